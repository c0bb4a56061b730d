import Foundation
import Testing

@testable import AutoHealCore

@Suite("Config file")
struct ConfigTests {
    /// The shape of the old deployment's file: only the old keys, `VIP` in capitals.
    static let oldStyle = """
        [rabbitmq]
        rabbitmq_addr = 10.0.0.5:5673
        username = openstack
        password = s3cret#with-hash

        [hosts]
        control_hosts = 10.0.0.11,10.0.0.12, 10.0.0.13
        compute_hosts = 10.0.0.21
        VIP = 10.0.0.10
        """

    @Test func oldStyleFileGetsDefaultsForEverythingNew() throws {
        let config = try AutoHealConfig.parse(Self.oldStyle, path: "/etc/auto_heal.conf")
        #expect(config.rabbitmq.brokers == [.init(host: "10.0.0.5", port: 5673)])
        #expect(config.rabbitmq.username == "openstack")
        #expect(config.rabbitmq.password == "s3cret#with-hash")
        #expect(config.rabbitmq.vhost == "/")
        #expect(config.hosts.control.map(\.name) == ["10.0.0.11", "10.0.0.12", "10.0.0.13"])
        #expect(config.hosts.control[0].docker == .tcp(host: "10.0.0.11", port: 2375))
        #expect(config.hosts.compute.map(\.name) == ["10.0.0.21"])
        #expect(config.hosts.vip?.docker == .tcp(host: "10.0.0.10", port: 2375))
        #expect(
            config.containers[.control] == ["nova_api", "cinder_api", "placement_api", "cinder_volume", "nova_conductor", "nova_scheduler"])
        #expect(config.containers[.compute] == ["nova_compute", "nova_libvirt"])
        #expect(config.schedule[.containerAutoHeal] == 60)
        #expect(config.logging.directory == "/var/log/autoheal")
        #expect(config.logging.level == .info)
        #expect(config.policy.maxAttempts == 3)
        #expect(config.policy.graceAfterStartSeconds == 60)
        #expect(config.policy.reviveStopped == false && config.policy.dryRun == false)
        #expect(config.notify.webhookURL == nil)
        #expect(config.warnings.isEmpty)
    }

    @Test func hostEntriesMayBeHostPortOrUnixSockets() throws {
        let config = try AutoHealConfig.parse(
            """
            [hosts]
            docker_port = 2376
            control_hosts = ctl1, ctl2:4243, unix:///var/run/docker.sock, [fd00::1]:2375, tcp://ctl3:2377
            compute_hosts = fd00::2
            """, path: "x.conf")
        #expect(
            config.hosts.control.map(\.docker) == [
                .tcp(host: "ctl1", port: 2376), .tcp(host: "ctl2", port: 4243), .unix(path: "/var/run/docker.sock"),
                .tcp(host: "fd00::1", port: 2375), .tcp(host: "ctl3", port: 2377),
            ])
        #expect(config.hosts.compute.map(\.docker) == [.tcp(host: "fd00::2", port: 2376)])
    }

    @Test func severalBrokersAndContinuationLines() throws {
        let config = try AutoHealConfig.parse(
            """
            [rabbitmq]
            rabbitmq_addr = 10.0.0.5,
                10.0.0.6:5673
            [containers]
            control = keystone
            compute =
            """, path: "x.conf")
        #expect(config.rabbitmq.brokers.map(\.description) == ["10.0.0.5:5672", "10.0.0.6:5673"])
        #expect(config.containers[.control] == ["keystone"])
        #expect(config.containers[.compute] == [])
    }

    @Test(arguments: [
        ("[schedule]\ncontainer_auto_heal = soon\n", 2, "schedule", "container_auto_heal", "soon"),
        ("[hosts]\n\ncontrol_hosts = a, b c\n", 3, "hosts", "control_hosts", "b c"),
        ("[hosts]\ndocker_port = 99999\n", 2, "hosts", "docker_port", "99999"),
        ("[rabbitmq]\nrabbitmq_addr = broker:notaport\n", 2, "rabbitmq", "rabbitmq_addr", "broker:notaport"),
        ("[logging]\nlevel = loud\n", 2, "logging", "level", "loud"),
        ("[containers]\ncontrol = nova_api, ../etc\n", 2, "containers", "control", "../etc"),
        ("[policy]\nmax_attempts = 0\n", 2, "policy", "max_attempts", "0"),
        // The webhook URL is the one value not echoed (it carries a token).
        ("[notify]\nwebhook_url = hooks.example/abc\n", 2, "notify", "webhook_url", "http:// or https://"),
        // A listen address is bound, never resolved: a host name is refused when the config is read.
        ("[metrics]\nengine_listen = metrics.internal:9464\n", 2, "metrics", "engine_listen", "host name \"metrics.internal\""),
        ("[metrics]\nmonitor_listen = 300.1.1.1:9465\n", 2, "metrics", "monitor_listen", "300.1.1.1"),
    ])
    func badValueNamesFileLineSectionAndKey(text: String, line: Int, section: String, key: String, value: String) {
        #expect {
            try AutoHealConfig.parse(text, path: "/etc/auto_heal.conf")
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            let message = error.description
            return error.line == line && error.section == section && error.key == key
                && message.hasPrefix("/etc/auto_heal.conf:\(line): [\(section)] \(key): ") && message.contains(value)
        }
    }

    @Test(arguments: [
        ("key = value\n", 1, "before any [section]"),
        ("[hosts]\ncontrol_hosts = a\ncontrol_hosts = b\n", 3, "appears twice"),
        ("[hosts]\n[hosts]\n", 2, "appears twice"),
        ("[hosts\n", 1, "[name]"),
        ("[hosts]\njust words\n", 2, "key = value"),
    ])
    func syntaxErrorsNameTheLine(text: String, line: Int, fragment: String) {
        #expect {
            try AutoHealConfig.parse(text, path: "c.conf")
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.line == line && error.description.hasPrefix("c.conf:\(line): ") && error.description.contains(fragment)
        }
    }

    @Test func unknownKeysAndSectionsAreWarningsNotErrors() throws {
        let config = try AutoHealConfig.parse(
            """
            [hosts]
            control_hosts = a
            contrl_hosts = b
            [extras]
            x = 1
            """, path: "c.conf")
        #expect(
            config.warnings.map(\.description) == [
                "c.conf:3: [hosts] unknown key `contrl_hosts` is ignored",
                "c.conf:4: unknown section [extras] is ignored",
            ])
    }

    @Test func renderedConfigNeverShowsThePassword() throws {
        let config = try AutoHealConfig.parse(
            Self.oldStyle + "\n[notify]\nwebhook_url = https://chat.example/hooks/s3cret-token\n", path: "c.conf")
        let shown = config.renderedForDisplay()
        #expect(!shown.contains("s3cret"))
        #expect(shown.contains("webhook_url = https://chat.example/********"))
        #expect(shown.contains("password = ********"))
        #expect(shown.contains("username = openstack"))
        // What is shown is itself a valid config with the same values (but the password).
        let reread = try AutoHealConfig.parse(shown, path: "shown.conf")
        #expect(reread.hosts.control.map(\.name) == config.hosts.control.map(\.name))
        #expect(reread.warnings.isEmpty)
    }

    @Test func missingFileGetsTheTemplateAndAnError() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autoheal-\(UUID().uuidString)")
        let path = directory.appendingPathComponent("auto_heal.conf").path
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect {
            try AutoHealConfig.load(path: path)
        } throws: { error in
            (error as? ConfigError)?.description.contains("wrote a commented template") == true
        }
        let written = try String(contentsOfFile: path, encoding: .utf8)
        #expect(written == ConfigTemplate.text)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // The second run reads the template without complaint.
        let config = try AutoHealConfig.load(path: path)
        #expect(config.warnings.isEmpty)
    }

    @Test func listenAddressesAreIPAddressesOrLocalhost() throws {
        let config = try AutoHealConfig.parse(
            "[metrics]\nengine_listen = localhost:9464\nmonitor_listen = [::1]:9465\n", path: "auto_heal.conf")
        #expect(config.metrics.engineListen?.description == "127.0.0.1:9464")
        #expect(config.metrics.monitorListen?.description == "[::1]:9465")
        let off = try AutoHealConfig.parse("[metrics]\nengine_listen =\nmonitor_listen = off\n", path: "auto_heal.conf")
        #expect(off.metrics.engineListen == nil && off.metrics.monitorListen == nil)
    }

    @Test func templateIsTheSampleConfigInTheRepository() throws {
        let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let sample = try String(contentsOf: repoRoot.appendingPathComponent("etc/auto_heal.conf"), encoding: .utf8)
        #expect(ConfigTemplate.text + "\n" == sample)
        let config = try AutoHealConfig.parse(sample, path: "etc/auto_heal.conf")
        #expect(config.warnings.isEmpty)
        #expect(config.schedule[.containerAutoHeal] == 60)
    }
}

/// What a config error says when a file cannot be read: the system's words, not an error's
/// type name (the daemons have no Foundation and its `localizedDescription`).
@Suite("Config file errors")
struct ConfigFileErrorTests {
    @Test func aMissingPasswordFileIsNamedWithTheSystemsWords() throws {
        let missing = "/nonexistent-autoheal/\(UUID().uuidString)/password"
        #expect {
            try AutoHealConfig.parse("[rabbitmq]\npassword_file = \(missing)\n", path: "auto_heal.conf")
        } throws: { error in
            let text = (error as? ConfigError)?.description ?? ""
            return text.contains("cannot read the password file \"\(missing)\": No such file or directory")
        }
    }

    @Test func aConfigThatIsNotUTF8SaysSo() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("autoheal-\(UUID().uuidString).conf").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data([0x5B, 0xFF, 0xFE, 0x5D, 0x0A]).write(to: URL(fileURLWithPath: path))
        #expect {
            try AutoHealConfig.load(path: path)
        } throws: { error in
            (error as? ConfigError)?.description.contains("cannot read: not valid UTF-8 text") == true
        }
    }

    @Test func pathsAreJoinedWithOneSlash() {
        #expect("/var/lib/autoheal".pathAppending("journal.sqlite") == "/var/lib/autoheal/journal.sqlite")
        #expect("/var/lib/autoheal/".pathAppending("journal.sqlite") == "/var/lib/autoheal/journal.sqlite")
        #expect("/etc/auto_heal.conf".directoryPart == "/etc" && "auto_heal.conf".directoryPart == "")
    }
}
