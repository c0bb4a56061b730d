import Foundation
import Logging

/// The whole configuration of Cloud Auto Heal, as read from `/etc/auto_heal.conf`.
///
/// Keys are compatible with the old deployment (`[rabbitmq] rabbitmq_addr, username,
/// password`, `[hosts] control_hosts, compute_hosts, VIP`); everything else has a default.
/// See `etc/auto_heal.conf` (the same text as ``ConfigTemplate/text``) for every key.
public struct AutoHealConfig: Sendable {
    /// The default location, used when `--config` is not given.
    public static let defaultPath = "/etc/auto_heal.conf"

    public struct BrokerAddress: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    public struct RabbitMQ: Sendable {
        /// Brokers of one cluster, tried in turn.
        public var brokers: [BrokerAddress]
        public var username: String
        /// Never printed; see ``AutoHealConfig/renderedForDisplay()``.
        public var password: String
        public var vhost: String
        public var heartbeatSeconds: Int
        /// `classic` or `quorum` (quorum queues survive the loss of a broker node).
        public var queueType: String
        /// One engine consumes at a time; another takes over when it goes away.
        public var singleActiveConsumer: Bool
        /// Requests the monitor keeps while the broker is away before dropping the oldest.
        public var publishBacklog: Int
    }

    /// A host as written in the config, with the Docker address it stands for.
    public struct Host: Sendable, Hashable, CustomStringConvertible {
        public var name: String
        public var docker: DockerHostAddress
        public var description: String { name }
    }

    public struct Hosts: Sendable {
        public var control: [Host]
        public var compute: [Host]
        public var vip: Host?
        public var dockerPort: Int
        /// Deadline for one Docker API call that does not wait on a container stop.
        public var dockerTimeoutSeconds: Int

        public func hosts(for scope: Scope) -> [Host] {
            switch scope {
            case .control: control
            case .compute: compute
            }
        }
    }

    public struct Engine: Sendable {
        /// Seconds Docker waits for a container to stop before it kills it, on restart.
        public var stopTimeoutSeconds: Int
        /// Requests handled at once (also the broker prefetch).
        public var concurrency: Int
        /// Where the decision journal (journal.sqlite) lives.
        public var stateDirectory: String
    }

    /// `[placement]`: how `allocation_heal` runs `nova-manage placement`.
    public struct Placement: Sendable {
        public var container: String
        public var deleteOrphans: Bool
        public var healMissing: Bool
        /// Deadline for one nova-manage command.
        public var commandTimeoutSeconds: Int
    }

    /// `[libvirt]`: how `libvirt_suspend_wakeup` treats domains.
    public struct Libvirt: Sendable {
        public var container: String
        /// Paused reasons resumed (as `virsh domstate --reason` prints them).
        public var resumeReasons: [String]
        public var resumeUserPaused: Bool
        /// auto (when a domain changed state), always, or never.
        public var restartNovaCompute: String
        public var novaComputeContainer: String
        public var commandTimeoutSeconds: Int
    }

    /// `[policy]`: the restart budget shared by containers and domains.
    public struct Policy: Sendable {
        public var backoffInitialSeconds: Int
        public var backoffMaxSeconds: Int
        public var healthyResetSeconds: Int
        public var maxAttempts: Int
        public var attemptWindowSeconds: Int
        /// No restart within this many seconds of a container's start.
        public var graceAfterStartSeconds: Int
        /// Start containers that exited cleanly (exit 0 or 143): off, they were likely stopped on purpose.
        public var reviveStopped: Bool
        /// Decide and log everything, change nothing.
        public var dryRun: Bool
        /// While this file exists, healing is paused (like `autoheal pause`).
        public var pauseFile: String?
        /// Hosts one container name is acted on at once.
        public var maxParallelPerService: Int
        /// Actions running at once in all.
        public var maxParallelActions: Int
        /// How long the next host waits for the previous one to be healthy again.
        public var rollingWaitSeconds: Int
    }

    /// `[notify]`.
    public struct Notify: Sendable {
        /// POSTed a JSON body with a `text` field (Slack/Mattermost style); nil for none.
        public var webhookURL: String?
    }

    public struct LoggingSettings: Sendable {
        public var directory: String
        public var level: Logger.Level
    }

    public var path: String
    public var rabbitmq: RabbitMQ
    public var hosts: Hosts
    public var containers: [Scope: [String]]
    /// Seconds between publications of each payload; 0 turns it off.
    public var schedule: [Payload: Int]
    public var engine: Engine
    public var placement: Placement
    public var libvirt: Libvirt
    public var policy: Policy
    public var notify: Notify
    public var logging: LoggingSettings
    /// Unknown keys and sections: worth a look, never fatal.
    public var warnings: [ConfigWarning]

    public static let defaultContainers: [Scope: [String]] = [
        .control: ["nova_api", "cinder_api", "placement_api", "cinder_volume", "nova_conductor", "nova_scheduler"],
        .compute: ["nova_compute", "nova_libvirt"],
    ]
    public static let defaultSchedule: [Payload: Int] = [
        .containerAutoHeal: 60, .allocationHeal: 3600, .libvirtSuspendWakeup: 300,
    ]

    static let knownSections = ["rabbitmq", "hosts", "containers", "schedule", "engine", "placement", "libvirt", "policy", "notify", "logging"]

    /// Reads and validates the config at `path`.
    ///
    /// A missing file is replaced by the commented template and reported as an error, so a
    /// first run leaves the operator a file to edit. Every other problem names file, line,
    /// section and key.
    public static func load(path: String) throws(ConfigError) -> AutoHealConfig {
        guard FileManager.default.fileExists(atPath: path) else {
            do {
                let directory = (path as NSString).deletingLastPathComponent
                if !directory.isEmpty {
                    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                }
                try Data(ConfigTemplate.text.utf8).write(to: URL(fileURLWithPath: path))
                chmod(path, 0o600)
            } catch {
                throw ConfigError(file: path, message: "no config file here, and writing a template failed: \(error.localizedDescription)")
            }
            throw ConfigError(file: path, message: "no config file here: wrote a commented template; edit it (at least [rabbitmq] and [hosts]) and start again")
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(file: path, message: "cannot read: \(error.localizedDescription)")
        }
        return try parse(text, path: path)
    }

    /// Validates config text; `path` is only used in messages.
    public static func parse(_ text: String, path: String) throws(ConfigError) -> AutoHealConfig {
        let document: INIDocument
        do {
            document = try INIDocument(parsing: text)
        } catch {
            throw ConfigError(file: path, line: error.line, message: error.message)
        }
        var r = ConfigReader(file: path, document: document)

        // [rabbitmq]
        let (brokerItems, brokerEntry) = r.list("rabbitmq", "rabbitmq_addr", default: ["127.0.0.1"])
        var brokers: [BrokerAddress] = []
        for item in brokerItems {
            guard case .tcp(let host, let port)? = DockerHostAddress(parsing: item, defaultPort: 5672) else {
                throw r.error("rabbitmq", brokerEntry!, "\"\(item)\" is not host or host:port")
            }
            brokers.append(BrokerAddress(host: host, port: port))
        }
        if brokers.isEmpty, let brokerEntry { throw r.error("rabbitmq", brokerEntry, "names no broker") }
        var rabbit = RabbitMQ(
            brokers: brokers,
            username: r.string("rabbitmq", "username", default: "guest"),
            password: r.string("rabbitmq", "password", default: "guest"),
            vhost: r.string("rabbitmq", "vhost", default: "/"),
            heartbeatSeconds: try r.integer("rabbitmq", "heartbeat", default: 30, range: 0...3600, unit: "whole seconds"),
            queueType: "classic", singleActiveConsumer: try r.boolean("rabbitmq", "single_active_consumer", default: true),
            publishBacklog: try r.integer("rabbitmq", "publish_backlog", default: 1000, range: 1...1_000_000, unit: "a count"))
        if let e = r.rawEntry("rabbitmq", "queue_type") {
            guard ["classic", "quorum"].contains(e.value.lowercased()) else {
                throw r.error("rabbitmq", e, "expected classic or quorum, got \"\(e.value)\"")
            }
            rabbit.queueType = e.value.lowercased()
        }

        // [hosts]
        let dockerPort = try r.integer("hosts", "docker_port", default: 2375, range: 1...65535, unit: "a port")
        func hostList(_ key: String) throws(ConfigError) -> [Host] {
            let (items, entry) = r.list("hosts", key, default: [])
            var hosts: [Host] = []
            for item in items {
                guard let address = DockerHostAddress(parsing: item, defaultPort: dockerPort) else {
                    throw r.error("hosts", entry!, "\"\(item)\" is not a host, host:port or unix:///path")
                }
                if hosts.contains(where: { $0.name == item }) {
                    throw r.error("hosts", entry!, "\"\(item)\" is listed twice")
                }
                hosts.append(Host(name: item, docker: address))
            }
            return hosts
        }
        let control = try hostList("control_hosts")
        let compute = try hostList("compute_hosts")
        var vip: Host? = nil
        if let e = r.rawEntry("hosts", "vip"), !e.value.isEmpty {
            guard let address = DockerHostAddress(parsing: e.value, defaultPort: dockerPort) else {
                throw r.error("hosts", e, "\"\(e.value)\" is not a host, host:port or unix:///path")
            }
            vip = Host(name: e.value, docker: address)
        }
        let hosts = Hosts(
            control: control, compute: compute, vip: vip, dockerPort: dockerPort,
            dockerTimeoutSeconds: try r.integer("hosts", "docker_timeout", default: 10, range: 1...600, unit: "whole seconds"))

        // [containers]
        var containers: [Scope: [String]] = [:]
        for scope in Scope.allCases {
            let (names, entry) = r.list("containers", scope.rawValue, default: defaultContainers[scope]!)
            for name in names where !isValidContainerName(name) {
                throw r.error("containers", entry!, "\"\(name)\" is not a container name (letters, digits, _ . -)")
            }
            containers[scope] = names
        }

        // [schedule]
        var schedule: [Payload: Int] = [:]
        for payload in Payload.allCases {
            schedule[payload] = try r.integer(
                "schedule", payload.rawValue, default: defaultSchedule[payload]!, range: 0...86_400 * 7,
                unit: "whole seconds (0 turns it off)")
        }

        // [engine]
        let engine = Engine(
            stopTimeoutSeconds: try r.integer("engine", "stop_timeout", default: 60, range: 0...3600, unit: "whole seconds"),
            concurrency: try r.integer("engine", "concurrency", default: 8, range: 1...1000, unit: "a count"),
            stateDirectory: r.string("engine", "state_dir", default: "/var/lib/autoheal"))

        // [placement]
        let placementContainer = r.string("placement", "container", default: "nova_api")
        if !isValidContainerName(placementContainer), let e = r.rawEntry("placement", "container") {
            throw r.error("placement", e, "\"\(e.value)\" is not a container name")
        }
        let placement = Placement(
            container: placementContainer,
            deleteOrphans: try r.boolean("placement", "delete_orphans", default: true),
            healMissing: try r.boolean("placement", "heal_missing", default: true),
            commandTimeoutSeconds: try r.integer("placement", "command_timeout", default: 600, range: 1...86_400, unit: "whole seconds"))

        // [libvirt]
        let (reasons, _) = r.list("libvirt", "resume_reasons", default: ["I/O error", "unknown"])
        let restart = r.string("libvirt", "restart_nova_compute", default: "auto").lowercased()
        if !["auto", "always", "never"].contains(restart), let e = r.rawEntry("libvirt", "restart_nova_compute") {
            throw r.error("libvirt", e, "expected auto, always or never; got \"\(e.value)\"")
        }
        let libvirt = Libvirt(
            container: r.string("libvirt", "container", default: "nova_libvirt"),
            resumeReasons: reasons,
            resumeUserPaused: try r.boolean("libvirt", "resume_user_paused", default: false),
            restartNovaCompute: restart,
            novaComputeContainer: r.string("libvirt", "nova_compute_container", default: "nova_compute"),
            commandTimeoutSeconds: try r.integer("libvirt", "command_timeout", default: 60, range: 1...3600, unit: "whole seconds"))

        // [policy]
        let policy = Policy(
            backoffInitialSeconds: try r.integer("policy", "backoff_initial", default: 10, range: 0...86_400, unit: "whole seconds"),
            backoffMaxSeconds: try r.integer("policy", "backoff_max", default: 300, range: 0...86_400, unit: "whole seconds"),
            healthyResetSeconds: try r.integer("policy", "healthy_reset", default: 600, range: 0...86_400 * 7, unit: "whole seconds"),
            maxAttempts: try r.integer("policy", "max_attempts", default: 3, range: 1...100, unit: "a count"),
            attemptWindowSeconds: try r.integer("policy", "attempt_window", default: 1800, range: 1...86_400 * 7, unit: "whole seconds"),
            graceAfterStartSeconds: try r.integer("policy", "grace_after_start", default: 60, range: 0...86_400, unit: "whole seconds"),
            reviveStopped: try r.boolean("policy", "revive_stopped", default: false),
            dryRun: try r.boolean("policy", "dry_run", default: false),
            pauseFile: r.string("policy", "pause_file", default: "").nilIfEmpty,
            maxParallelPerService: try r.integer("policy", "max_parallel_per_service", default: 1, range: 1...1000, unit: "a count"),
            maxParallelActions: try r.integer("policy", "max_parallel_actions", default: 10, range: 1...10_000, unit: "a count"),
            rollingWaitSeconds: try r.integer("policy", "rolling_wait", default: 300, range: 1...86_400, unit: "whole seconds"))

        // [notify]
        var notify = Notify(webhookURL: nil)
        if let e = r.rawEntry("notify", "webhook_url"), !e.value.isEmpty {
            guard e.value.hasPrefix("http://") || e.value.hasPrefix("https://") else {
                throw r.error("notify", e, "expected an http:// or https:// URL, got \"\(e.value)\"")
            }
            notify.webhookURL = e.value
        }

        // [logging]
        let directory = r.string("logging", "log_dir", default: "/var/log/autoheal")
        var level = Logger.Level.info
        if let e = r.rawEntry("logging", "level") {
            guard let parsed = Logger.Level(rawValue: e.value.lowercased()) else {
                throw r.error("logging", e, "expected one of trace, debug, info, notice, warning, error, critical; got \"\(e.value)\"")
            }
            level = parsed
        }

        return AutoHealConfig(
            path: path, rabbitmq: rabbit, hosts: hosts, containers: containers, schedule: schedule,
            engine: engine, placement: placement, libvirt: libvirt, policy: policy, notify: notify,
            logging: LoggingSettings(directory: directory, level: level),
            warnings: r.unknownKeyWarnings(knownSections: knownSections))
    }

    /// A webhook URL with its path and query masked: they often carry a token.
    static func maskedURL(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return "********" }
        let rest = url[scheme.upperBound...]
        let host = rest.prefix(while: { $0 != "/" && $0 != "?" })
        return url[..<scheme.upperBound] + host + (rest.count > host.count ? "/********" : "")
    }

    static func isValidContainerName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.properties.isAlphabetic || ("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_.-".unicodeScalars.contains($0)) }
    }

    /// The effective configuration as INI text, with every secret masked.
    public func renderedForDisplay() -> String {
        func list(_ hosts: [Host]) -> String { hosts.map(\.name).joined(separator: ", ") }
        var lines: [String] = ["# effective configuration read from \(path)"]
        lines += [
            "[rabbitmq]",
            "rabbitmq_addr = \(rabbitmq.brokers.map(\.description).joined(separator: ", "))",
            "username = \(rabbitmq.username)",
            "password = \(rabbitmq.password.isEmpty ? "(empty)" : "********")",
            "vhost = \(rabbitmq.vhost)",
            "heartbeat = \(rabbitmq.heartbeatSeconds)",
            "queue_type = \(rabbitmq.queueType)",
            "single_active_consumer = \(rabbitmq.singleActiveConsumer)",
            "publish_backlog = \(rabbitmq.publishBacklog)",
            "",
            "[hosts]",
            "control_hosts = \(list(hosts.control))",
            "compute_hosts = \(list(hosts.compute))",
            "VIP = \(hosts.vip?.name ?? "")",
            "docker_port = \(hosts.dockerPort)",
            "docker_timeout = \(hosts.dockerTimeoutSeconds)",
            "",
            "[containers]",
        ]
        for scope in Scope.allCases { lines.append("\(scope.rawValue) = \(containers[scope, default: []].joined(separator: ", "))") }
        lines += ["", "[schedule]"]
        for payload in Payload.allCases { lines.append("\(payload.rawValue) = \(schedule[payload, default: 0])") }
        lines += [
            "", "[engine]",
            "stop_timeout = \(engine.stopTimeoutSeconds)",
            "concurrency = \(engine.concurrency)",
            "state_dir = \(engine.stateDirectory)",
            "", "[placement]",
            "container = \(placement.container)",
            "delete_orphans = \(placement.deleteOrphans)",
            "heal_missing = \(placement.healMissing)",
            "command_timeout = \(placement.commandTimeoutSeconds)",
            "", "[libvirt]",
            "container = \(libvirt.container)",
            "resume_reasons = \(libvirt.resumeReasons.joined(separator: ", "))",
            "resume_user_paused = \(libvirt.resumeUserPaused)",
            "restart_nova_compute = \(libvirt.restartNovaCompute)",
            "nova_compute_container = \(libvirt.novaComputeContainer)",
            "command_timeout = \(libvirt.commandTimeoutSeconds)",
            "", "[policy]",
            "backoff_initial = \(policy.backoffInitialSeconds)",
            "backoff_max = \(policy.backoffMaxSeconds)",
            "healthy_reset = \(policy.healthyResetSeconds)",
            "max_attempts = \(policy.maxAttempts)",
            "attempt_window = \(policy.attemptWindowSeconds)",
            "grace_after_start = \(policy.graceAfterStartSeconds)",
            "revive_stopped = \(policy.reviveStopped)",
            "dry_run = \(policy.dryRun)",
            "pause_file = \(policy.pauseFile ?? "")",
            "max_parallel_per_service = \(policy.maxParallelPerService)",
            "max_parallel_actions = \(policy.maxParallelActions)",
            "rolling_wait = \(policy.rollingWaitSeconds)",
            "", "[notify]",
            "webhook_url = \(notify.webhookURL.map(Self.maskedURL) ?? "")",
            "", "[logging]",
            "log_dir = \(logging.directory)",
            "level = \(logging.level.rawValue)",
        ]
        return lines.joined(separator: "\n") + "\n"
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
