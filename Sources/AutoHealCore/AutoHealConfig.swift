import FoundationEssentials
import Glibc
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
        /// Where the password came from: `config`, `password_file PATH`, the environment
        /// variable, or `default`. Shown by `check-config` instead of the password.
        public var passwordSource: String
        /// AMQP over TLS (`amqps = true`); nil for plain AMQP.
        public var tls: TLSFiles?
    }

    /// Certificates for a TLS connection (PEM files): the CA that signed the server, and an
    /// optional client certificate and key. The server's certificate is always verified.
    public struct TLSFiles: Sendable, Hashable {
        public var caFile: String?
        public var certificateFile: String?
        public var keyFile: String?
        /// Check the server's name against its certificate (always on for Docker; for AMQP,
        /// `ssl_verify_hostname`: rabbitmq-c matches DNS names only, not IP addresses).
        public var verifyHostname = true

        public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil) {
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
        }
    }

    /// `[metrics]`: where each daemon serves `/metrics` and `/healthz`.
    public struct Metrics: Sendable {
        /// nil turns the endpoint off.
        public var engineListen: BrokerAddress?
        public var monitorListen: BrokerAddress?
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
        /// Deadline for opening a connection to a Docker host.
        public var dockerConnectTimeoutSeconds: Int
        /// Requests in flight to one Docker host at once.
        public var dockerMaxRequestsPerHost: Int
        /// Docker over TLS with a client certificate (`docker_tls = true`); nil for plain TCP.
        public var dockerTLS: TLSFiles?

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
        /// Days of decisions the journal keeps (pruned at start and hourly).
        public var journalDays: Int
    }

    /// `[placement]`: how `allocation_heal` runs `nova-manage placement`.
    public struct Placement: Sendable {
        public var container: String
        public var deleteOrphans: Bool
        public var healMissing: Bool
        /// `heal_allocations --skip-port-allocations` (no Neutron, or ports need no healing).
        public var skipPortAllocations: Bool
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

    /// `[nova]`: how the engine reaches the Nova API (compute_host_failure): a Keystone v3
    /// password login, or a fixed token and endpoint (a cloud without Keystone, the lab).
    public struct Nova: Sendable {
        public enum Auth: Sendable, Equatable {
            /// `auth = token`: `token` sent as X-Auth-Token to `endpoint`.
            case token(String)
            /// `auth = password`: Keystone v3 at `authURL`; the compute endpoint from the catalog
            /// (or `endpoint`, when set).
            case password(Keystone)
        }

        public struct Keystone: Sendable, Equatable {
            public var authURL: String
            public var username: String
            /// Never printed.
            public var password: String
            public var userDomainName: String
            public var projectName: String
            public var projectDomainName: String
            public var regionName: String?
            /// public, internal or admin.
            public var interface: String

            public init(
                authURL: String, username: String, password: String, userDomainName: String, projectName: String,
                projectDomainName: String, regionName: String?, interface: String
            ) {
                self.authURL = authURL
                self.username = username
                self.password = password
                self.userDomainName = userDomainName
                self.projectName = projectName
                self.projectDomainName = projectDomainName
                self.regionName = regionName
                self.interface = interface
            }
        }

        public var auth: Auth
        /// The compute endpoint (`…/v2.1`); for password auth, nil takes it from the catalog.
        public var endpoint: String?
        /// CA of the Nova and Keystone endpoints (https); nil uses the system's store. Always verified.
        public var caFile: String?
        public var timeoutSeconds: Int

        public init(auth: Auth, endpoint: String?, caFile: String?, timeoutSeconds: Int) {
            self.auth = auth
            self.endpoint = endpoint
            self.caFile = caFile
            self.timeoutSeconds = timeoutSeconds
        }
    }

    /// `[host_failure]`: when a compute host counts as down, and what is done then.
    public struct HostFailure: Sendable {
        public enum Fence: Sendable, Equatable {
            /// `fence = none`: evacuate without fencing (the operator's explicit choice).
            case none
            /// A command run by the engine, the host's name appended (or put where `{host}` is).
            case command([String])
        }

        public var hostDownAfterSeconds: Int
        public var maxHostsDown: Int
        public var maxHostsDownPercent: Int
        /// nil: not configured, so nothing is evacuated (an ERROR says so).
        public var fence: Fence?
        public var fenceTimeoutSeconds: Int
        public var maxParallelEvacuations: Int
        public var evacuationTimeoutSeconds: Int
        /// Hosts evacuated at once.
        public var hostsAtOnce: Int
        /// Instances with this metadata key set to this value are not evacuated.
        public var optOut: (key: String, value: String)
        /// When a fenced host answers again, clear forced_down (default: leave it to a person).
        public var unsetForcedDown: Bool

        /// The most hosts that may look down at once before the healer suspects it is the one cut off.
        public func limit(hosts: Int) -> Int {
            min(maxHostsDown, Int((Double(hosts) * Double(maxHostsDownPercent) / 100).rounded(.down)))
        }
    }

    /// `[notify]`.
    public struct Notify: Sendable {
        /// POSTed a JSON body with a `text` field (Slack/Mattermost style); nil for none.
        public var webhookURL: String?
    }

    public struct LoggingSettings: Sendable {
        public var directory: String
        public var level: Logger.Level
        /// text or json (one object a line).
        public var format: AreaLogHandler.Format
    }

    public var path: String
    public var rabbitmq: RabbitMQ
    public var hosts: Hosts
    public var containers: [Scope: [String]]
    /// Seconds between publications of each payload; 0 turns it off.
    public var schedule: [Payload: Int]
    /// `[schedule] watch_events`: the monitor follows each host's Docker events and asks for
    /// a targeted heal the moment a watched container dies, is OOM-killed or turns unhealthy.
    public var watchEvents: Bool
    public var engine: Engine
    public var placement: Placement
    public var libvirt: Libvirt
    public var policy: Policy
    public var notify: Notify
    /// nil when `[nova]` is not configured (compute_host_failure is then off).
    public var nova: Nova?
    public var hostFailure: HostFailure
    public var metrics: Metrics
    public var logging: LoggingSettings
    /// `[rabbitmq] allow_insecure_config`: accept a password in a file others can read.
    public var allowInsecureConfig: Bool
    /// Unknown keys and sections: worth a look, never fatal.
    public var warnings: [ConfigWarning]

    public static let defaultContainers: [Scope: [String]] = [
        .control: ["nova_api", "cinder_api", "placement_api", "cinder_volume", "nova_conductor", "nova_scheduler"],
        .compute: ["nova_compute", "nova_libvirt"],
    ]
    public static let defaultSchedule: [Payload: Int] = [
        .containerAutoHeal: 60, .allocationHeal: 3600, .libvirtSuspendWakeup: 300, .computeHostFailure: 30,
    ]

    static let knownSections = [
        "rabbitmq", "hosts", "containers", "schedule", "engine", "placement", "libvirt", "policy", "notify", "nova",
        "host_failure", "metrics", "logging",
    ]

    /// The environment variable that, when set, holds the RabbitMQ password.
    public static let passwordEnvironmentVariable = "AUTOHEAL_RABBITMQ_PASSWORD"
    /// The environment variable that, when set, holds the Nova (Keystone) password.
    public static let novaPasswordEnvironmentVariable = "AUTOHEAL_NOVA_PASSWORD"

    /// Reads and validates the config at `path`.
    ///
    /// A missing file is replaced by the commented template and reported as an error, so a
    /// first run leaves the operator a file to edit. Every other problem names file, line,
    /// section and key.
    ///
    /// A file that holds a password (or names a `password_file`) must not be readable by
    /// group or others, unless `[rabbitmq] allow_insecure_config = true`.
    public static func load(
        path: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigError) -> AutoHealConfig {
        var isDirectory = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        if exists, isDirectory {
            throw ConfigError(
                file: path,
                message: "is a directory, not a config file. When a container mounts a host path that does not exist, "
                    + "Docker makes an empty directory there: remove it on the host (rmdir \(path)), write the config "
                    + "with `autoheal init-config` (README: \"The config\"), and start again")
        }
        guard exists else {
            // In the healer's image a template written here would be lost with the container:
            // say what to do on the host instead.
            if ProcessInfo.processInfo.environment["AUTOHEAL_IN_IMAGE"] == "1" {
                throw ConfigError(
                    file: path,
                    message: "no config file here (in this container). Mount the host's config read-only at \(path); "
                        + "to make one on the host: docker run --rm -v /etc:/host-etc --entrypoint autoheal IMAGE "
                        + "init-config --output /host-etc/auto_heal.conf")
            }
            do {
                try writeTemplate(to: path)
            } catch {
                throw ConfigError(file: path, message: "no config file here, and writing a template failed: \(error.operatorText)")
            }
            throw ConfigError(
                file: path,
                message: "no config file here: wrote a commented template; edit it (at least [rabbitmq] and [hosts]) and start again")
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(file: path, message: "cannot read: \(error.operatorText)")
        }
        let config = try parse(text, path: path, environment: environment)
        if config.rabbitmq.passwordSource == "config" && !config.allowInsecureConfig {
            try refuseIfShared(path, what: "holds the RabbitMQ password")
        }
        return config
    }

    /// Writes the commented template to `path` with mode 600 (created so, never readable by
    /// others even for a moment), making its directory if needed. Refuses to replace a file.
    public static func writeTemplate(to path: String) throws {
        let directory = path.directoryPart
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw ConfigError(file: path, message: "cannot create: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(ConfigTemplate.text.utf8)
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw ConfigError(file: path, message: "cannot write: \(String(cString: strerror(errno)))")
        }
    }

    /// Throws when the file at `path` can be read by its group or by others.
    static func refuseIfShared(_ path: String, what: String) throws(ConfigError) {
        var info = stat()
        guard stat(path, &info) == 0 else { return }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 != 0 else { return }
        throw ConfigError(
            file: path,
            message: "\(what) and is readable by group or others (mode \(String(mode, radix: 8))): "
                + "run `chmod 600 \(path)`, or move the password to [rabbitmq] password_file (mode 600) or the "
                + "\(passwordEnvironmentVariable) environment variable, or set [rabbitmq] allow_insecure_config = true")
    }

    /// Validates config text; `path` is only used in messages. A password in `environment`
    /// (``passwordEnvironmentVariable``) wins over `password_file`, which wins over `password`.
    public static func parse(
        _ text: String, path: String, environment: [String: String] = [:]
    ) throws(ConfigError) -> AutoHealConfig {
        let document: INIDocument
        do {
            document = try INIDocument(parsing: text)
        } catch {
            throw ConfigError(file: path, line: error.line, message: error.message)
        }
        var r = ConfigReader(file: path, document: document)

        // [rabbitmq]
        let amqps = try r.boolean("rabbitmq", "amqps", default: false)
        let (brokerItems, brokerEntry) = r.list("rabbitmq", "rabbitmq_addr", default: ["127.0.0.1"])
        var brokers: [BrokerAddress] = []
        for item in brokerItems {
            guard case .tcp(let host, let port)? = DockerHostAddress(parsing: item, defaultPort: amqps ? 5671 : 5672) else {
                throw r.error("rabbitmq", brokerEntry!, "\"\(item)\" is not host or host:port")
            }
            brokers.append(BrokerAddress(host: host, port: port))
        }
        /// The TLS files under `prefix`, checked only when TLS is `enabled` (nil otherwise).
        func tlsFiles(_ section: String, _ prefix: String, enabled: Bool) throws(ConfigError) -> TLSFiles? {
            var files = TLSFiles()
            for (key, keyPath) in [("ca", \TLSFiles.caFile), ("cert", \TLSFiles.certificateFile), ("key", \TLSFiles.keyFile)] {
                guard let e = r.rawEntry(section, prefix + key), enabled, !e.value.isEmpty else { continue }
                guard FileManager.default.isReadableFile(atPath: e.value) else {
                    throw r.error(section, e, "cannot read \"\(e.value)\"")
                }
                files[keyPath: keyPath] = e.value
            }
            if (files.certificateFile == nil) != (files.keyFile == nil) {
                let e = r.rawEntry(section, prefix + "cert") ?? r.rawEntry(section, prefix + "key")!
                throw r.error(section, e, "\(prefix)cert and \(prefix)key go together: set both or neither")
            }
            return enabled ? files : nil
        }
        var brokerTLS = try tlsFiles("rabbitmq", "ssl_", enabled: amqps)
        let verifyHostname = try r.boolean("rabbitmq", "ssl_verify_hostname", default: true)
        brokerTLS?.verifyHostname = verifyHostname
        let allowInsecure = try r.boolean("rabbitmq", "allow_insecure_config", default: false)
        var password = r.string("rabbitmq", "password", default: "guest")
        var passwordSource = r.rawEntry("rabbitmq", "password") == nil ? "default" : "config"
        if let e = r.rawEntry("rabbitmq", "password_file"), !e.value.isEmpty {
            do {
                let text = try String(contentsOfFile: e.value, encoding: .utf8)
                password = String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
                    .trimmingWhitespace()
            } catch {
                throw r.error("rabbitmq", e, "cannot read the password file \"\(e.value)\": \(error.operatorText)")
            }
            if !allowInsecure { try refuseIfShared(e.value, what: "is the RabbitMQ password file") }
            passwordSource = "password_file \(e.value)"
        }
        if let fromEnvironment = environment[passwordEnvironmentVariable], !fromEnvironment.isEmpty {
            password = fromEnvironment
            passwordSource = "environment \(passwordEnvironmentVariable)"
        }
        if brokers.isEmpty, let brokerEntry { throw r.error("rabbitmq", brokerEntry, "names no broker") }
        var rabbit = RabbitMQ(
            brokers: brokers,
            username: r.string("rabbitmq", "username", default: "guest"),
            password: password,
            vhost: r.string("rabbitmq", "vhost", default: "/"),
            heartbeatSeconds: try r.integer("rabbitmq", "heartbeat", default: 30, range: 0...3600, unit: "whole seconds"),
            queueType: "classic", singleActiveConsumer: try r.boolean("rabbitmq", "single_active_consumer", default: true),
            publishBacklog: try r.integer("rabbitmq", "publish_backlog", default: 1000, range: 1...1_000_000, unit: "a count"),
            passwordSource: passwordSource, tls: brokerTLS)
        if let e = r.rawEntry("rabbitmq", "queue_type") {
            guard ["classic", "quorum"].contains(e.value.lowercased()) else {
                throw r.error("rabbitmq", e, "expected classic or quorum, got \"\(e.value)\"")
            }
            rabbit.queueType = e.value.lowercased()
        }

        // [hosts]
        let dockerTLSOn = try r.boolean("hosts", "docker_tls", default: false)
        let dockerPort = try r.integer("hosts", "docker_port", default: dockerTLSOn ? 2376 : 2375, range: 1...65535, unit: "a port")
        let dockerTLS = try tlsFiles("hosts", "docker_", enabled: dockerTLSOn)
        func hostList(_ key: String) throws(ConfigError) -> [Host] {
            let (items, entry) = r.list("hosts", key, default: [])
            var hosts: [Host] = []
            for item in items {
                // NAME=ADDRESS names a host as Nova knows it (its nova-compute `host`), with its
                // Docker API elsewhere; a plain ADDRESS is its own name.
                let (name, addressText) =
                    item.contains("=")
                    ? (String(item.prefix(while: { $0 != "=" })), String(item.drop(while: { $0 != "=" }).dropFirst()))
                    : (item, item)
                guard let address = DockerHostAddress(parsing: addressText, defaultPort: dockerPort), !name.isEmpty else {
                    throw r.error("hosts", entry!, "\"\(item)\" is not a host, host:port, unix:///path or NAME=ADDRESS")
                }
                if hosts.contains(where: { $0.name == name }) {
                    throw r.error("hosts", entry!, "\"\(name)\" is listed twice")
                }
                hosts.append(Host(name: name, docker: address))
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
            dockerTimeoutSeconds: try r.integer("hosts", "docker_timeout", default: 10, range: 1...600, unit: "whole seconds"),
            dockerConnectTimeoutSeconds: try r.integer(
                "hosts", "docker_connect_timeout", default: 3, range: 1...600, unit: "whole seconds"),
            dockerMaxRequestsPerHost: try r.integer("hosts", "docker_max_requests", default: 8, range: 1...1000, unit: "a count"),
            dockerTLS: dockerTLS)
        if dockerTLS != nil, let e = r.rawEntry("hosts", "docker_tls"),
            (control + compute + (vip.map { [$0] } ?? [])).contains(where: { if case .unix = $0.docker { true } else { false } })
        {
            throw r.error("hosts", e, "docker_tls applies to TCP hosts; a unix:// host cannot use it")
        }

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
        var schedule: [Payload: Int] = [:]  // compute_host_failure is turned off below without [nova]
        for payload in Payload.allCases {
            schedule[payload] = try r.integer(
                "schedule", payload.rawValue, default: defaultSchedule[payload]!, range: 0...86_400 * 7,
                unit: "whole seconds (0 turns it off)")
        }

        let watchEvents = try r.boolean("schedule", "watch_events", default: true)

        // [engine]
        let engine = Engine(
            stopTimeoutSeconds: try r.integer("engine", "stop_timeout", default: 60, range: 0...3600, unit: "whole seconds"),
            concurrency: try r.integer("engine", "concurrency", default: 32, range: 1...1000, unit: "a count"),
            stateDirectory: r.string("engine", "state_dir", default: "/var/lib/autoheal"),
            journalDays: try r.integer("engine", "journal_days", default: 30, range: 1...3650, unit: "whole days"))

        // [placement]
        let placementContainer = r.string("placement", "container", default: "nova_api")
        if !isValidContainerName(placementContainer), let e = r.rawEntry("placement", "container") {
            throw r.error("placement", e, "\"\(e.value)\" is not a container name")
        }
        let placement = Placement(
            container: placementContainer,
            deleteOrphans: try r.boolean("placement", "delete_orphans", default: true),
            healMissing: try r.boolean("placement", "heal_missing", default: true),
            skipPortAllocations: try r.boolean("placement", "skip_port_allocations", default: false),
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
            guard e.value.isHTTPURL else {
                // Not echoed: a webhook URL carries its token.
                throw r.error("notify", e, "expected an http:// or https:// URL (the value is not shown: it may hold a token)")
            }
            notify.webhookURL = e.value
        }

        // [nova]
        var nova: Nova? = nil
        let authText = r.string("nova", "auth", default: "").lowercased()
        let novaEndpoint = r.string("nova", "endpoint", default: "").nilIfEmpty
        if let e = r.rawEntry("nova", "endpoint"), let url = novaEndpoint, !url.isHTTPURL {
            throw r.error("nova", e, "expected an http:// or https:// URL, got \"\(url)\"")
        }
        let novaCA = r.string("nova", "ca_file", default: "").nilIfEmpty
        if let ca = novaCA, !FileManager.default.isReadableFile(atPath: ca) {
            throw r.error("nova", r.rawEntry("nova", "ca_file")!, "cannot read \"\(ca)\"")
        }
        let novaTimeout = try r.integer("nova", "timeout", default: 30, range: 1...600, unit: "whole seconds")
        switch authText.isEmpty ? (r.rawEntry("nova", "auth_url") != nil ? "password" : (novaEndpoint != nil ? "token" : "")) : authText {
        case "":
            break
        case "token":
            guard let endpoint = novaEndpoint else {
                throw r.error(
                    "nova", r.rawEntry("nova", "auth") ?? r.rawEntry("nova", "token")!,
                    "auth = token needs endpoint (the compute API, …/v2.1)")
            }
            nova = Nova(
                auth: .token(r.string("nova", "token", default: "admin")), endpoint: endpoint, caFile: novaCA, timeoutSeconds: novaTimeout)
        case "password":
            guard let authEntry = r.rawEntry("nova", "auth_url"), !authEntry.value.isEmpty else {
                throw r.error(
                    "nova", r.rawEntry("nova", "auth")!, "auth = password needs auth_url (Keystone, e.g. https://keystone:5000/v3)")
            }
            var password = r.string("nova", "password", default: "")
            if let e = r.rawEntry("nova", "password_file"), !e.value.isEmpty {
                do {
                    password = String(
                        try String(contentsOfFile: e.value, encoding: .utf8)
                            .split(separator: "\n", omittingEmptySubsequences: false).first ?? ""
                    ).trimmingWhitespace()
                } catch {
                    throw r.error("nova", e, "cannot read the password file \"\(e.value)\": \(error.operatorText)")
                }
                if !allowInsecure { try refuseIfShared(e.value, what: "is the Nova password file") }
            } else if r.rawEntry("nova", "password") != nil, !allowInsecure {
                try refuseIfShared(path, what: "holds the Nova password")
            }
            if let fromEnvironment = environment[novaPasswordEnvironmentVariable], !fromEnvironment.isEmpty { password = fromEnvironment }
            let interface = r.string("nova", "interface", default: "internal").lowercased()
            guard ["public", "internal", "admin"].contains(interface) else {
                throw r.error("nova", r.rawEntry("nova", "interface")!, "expected public, internal or admin, got \"\(interface)\"")
            }
            nova = Nova(
                auth: .password(
                    Nova.Keystone(
                        authURL: authEntry.value, username: r.string("nova", "username", default: "admin"), password: password,
                        userDomainName: r.string("nova", "user_domain_name", default: "Default"),
                        projectName: r.string("nova", "project_name", default: "admin"),
                        projectDomainName: r.string("nova", "project_domain_name", default: "Default"),
                        regionName: r.string("nova", "region_name", default: "").nilIfEmpty, interface: interface)),
                endpoint: novaEndpoint, caFile: novaCA, timeoutSeconds: novaTimeout)
        case let other:
            throw r.error("nova", r.rawEntry("nova", "auth")!, "expected token or password, got \"\(other)\"")
        }
        if nova == nil {
            // Without [nova] there is nothing to confirm a host failure with: the check is off.
            if let e = r.rawEntry("schedule", Payload.computeHostFailure.rawValue), (Int(e.value) ?? 0) > 0 {
                throw r.error("schedule", e, "compute_host_failure needs [nova] (endpoint and token, or auth_url and a password)")
            }
            schedule[.computeHostFailure] = 0
        }

        // [host_failure]
        var fence: HostFailure.Fence? = nil
        if let e = r.rawEntry("host_failure", "fence"), !e.value.isEmpty {
            if e.value.lowercased() == "none" {
                fence = HostFailure.Fence.none
            } else {
                guard let words = ShellWords.split(e.value), let program = words.first else {
                    throw r.error("host_failure", e, "cannot read the command (unbalanced quotes?): \(e.value)")
                }
                if program.hasPrefix("/"), !FileManager.default.isExecutableFile(atPath: program) {
                    throw r.error("host_failure", e, "\(program) is not an executable file")
                }
                fence = .command(words)
            }
        }
        let optOutText = r.string("host_failure", "opt_out_metadata", default: "autoheal_evacuate=false")
        guard let equals = optOutText.firstIndex(of: "="), equals != optOutText.startIndex else {
            throw r.error("host_failure", r.rawEntry("host_failure", "opt_out_metadata")!, "expected KEY=VALUE, got \"\(optOutText)\"")
        }
        let hostFailure = HostFailure(
            hostDownAfterSeconds: try r.integer("host_failure", "host_down_after", default: 180, range: 0...86_400, unit: "whole seconds"),
            maxHostsDown: try r.integer("host_failure", "max_hosts_down", default: 1, range: 0...10_000, unit: "a count"),
            maxHostsDownPercent: try r.integer("host_failure", "max_hosts_down_percent", default: 50, range: 0...100, unit: "a percentage"),
            fence: fence,
            fenceTimeoutSeconds: try r.integer("host_failure", "fence_timeout", default: 60, range: 1...3600, unit: "whole seconds"),
            maxParallelEvacuations: try r.integer("host_failure", "max_parallel_evacuations", default: 4, range: 1...100, unit: "a count"),
            evacuationTimeoutSeconds: try r.integer(
                "host_failure", "evacuation_timeout", default: 600, range: 10...86_400, unit: "whole seconds"),
            hostsAtOnce: try r.integer("host_failure", "hosts_at_once", default: 1, range: 1...100, unit: "a count"),
            optOut: (String(optOutText[..<equals]), String(optOutText[optOutText.index(after: equals)...])),
            unsetForcedDown: try r.boolean("host_failure", "unset_forced_down", default: false))

        // [metrics]
        func listenAddress(_ key: String, default value: String) throws(ConfigError) -> BrokerAddress? {
            let text = r.string("metrics", key, default: value)
            if text.isEmpty || text == "off" { return nil }
            guard case .tcp(let host, let port)? = DockerHostAddress(parsing: text, defaultPort: 0), port > 0 else {
                throw r.error("metrics", r.rawEntry("metrics", key)!, "expected host:port (or empty to turn it off), got \"\(text)\"")
            }
            // The endpoint binds an address: a host name is refused here rather than found
            // unbindable after start (no resolver is consulted at startup); localhost is 127.0.0.1.
            if host == "localhost" { return BrokerAddress(host: "127.0.0.1", port: port) }
            guard IPAddressText.isLiteral(host) else {
                throw r.error(
                    "metrics", r.rawEntry("metrics", key)!,
                    "expected an IP address to listen on (such as 127.0.0.1:\(port) or [::1]:\(port)), got the host name \"\(host)\"")
            }
            return BrokerAddress(host: host, port: port)
        }
        let metrics = Metrics(
            engineListen: try listenAddress("engine_listen", default: "127.0.0.1:9464"),
            monitorListen: try listenAddress("monitor_listen", default: "127.0.0.1:9465"))

        // [logging]
        let directory = r.string("logging", "log_dir", default: "/var/log/autoheal")
        var level = Logger.Level.info
        if let e = r.rawEntry("logging", "level") {
            guard let parsed = Logger.Level(rawValue: e.value.lowercased()) else {
                throw r.error("logging", e, "expected one of trace, debug, info, notice, warning, error, critical; got \"\(e.value)\"")
            }
            level = parsed
        }
        var logFormat = AreaLogHandler.Format.text
        if let e = r.rawEntry("logging", "format") {
            guard let parsed = AreaLogHandler.Format(rawValue: e.value.lowercased()) else {
                throw r.error("logging", e, "expected text or json, got \"\(e.value)\"")
            }
            logFormat = parsed
        }

        return AutoHealConfig(
            path: path, rabbitmq: rabbit, hosts: hosts, containers: containers, schedule: schedule, watchEvents: watchEvents,
            engine: engine, placement: placement, libvirt: libvirt, policy: policy, notify: notify, nova: nova,
            hostFailure: hostFailure, metrics: metrics,
            logging: LoggingSettings(directory: directory, level: level, format: logFormat), allowInsecureConfig: allowInsecure,
            warnings: r.unknownKeyWarnings(knownSections: knownSections))
    }

    /// A webhook URL with its credentials, path and query masked: they often carry a token.
    /// What logs, errors and `check-config` show instead of the URL.
    public static func maskedURL(_ url: String) -> String {
        guard let scheme = url.firstRange(of: "://") else { return "********" }
        let rest = url[scheme.upperBound...]
        var host = rest.prefix(while: { $0 != "/" && $0 != "?" && $0 != "#" })
        let afterHost = rest.count > host.count
        if let at = host.lastIndex(of: "@") { host = "********@" + host[host.index(after: at)...] }
        return url[..<scheme.upperBound] + host + (afterHost ? "/********" : "")
    }

    static func isValidContainerName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.properties.isAlphabetic || ("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_.-".unicodeScalars.contains($0))
        }
    }

    /// The effective configuration as INI text, with every secret masked.
    public func renderedForDisplay() -> String {
        func list(_ hosts: [Host]) -> String { hosts.map(\.name).joined(separator: ", ") }
        var lines: [String] = ["# effective configuration read from \(path)"]
        lines += [
            "[rabbitmq]",
            "rabbitmq_addr = \(rabbitmq.brokers.map(\.description).joined(separator: ", "))",
            "username = \(rabbitmq.username)",
            "# password from: \(rabbitmq.passwordSource)",
            "password = \(rabbitmq.password.isEmpty ? "(empty)" : "********")",
            "amqps = \(rabbitmq.tls != nil)",
            "ssl_ca = \(rabbitmq.tls?.caFile ?? "")",
            "ssl_cert = \(rabbitmq.tls?.certificateFile ?? "")",
            "ssl_key = \(rabbitmq.tls?.keyFile ?? "")",
            "ssl_verify_hostname = \(rabbitmq.tls?.verifyHostname ?? true)",
            "allow_insecure_config = \(allowInsecureConfig)",
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
            "docker_connect_timeout = \(hosts.dockerConnectTimeoutSeconds)",
            "docker_max_requests = \(hosts.dockerMaxRequestsPerHost)",
            "docker_tls = \(hosts.dockerTLS != nil)",
            "docker_ca = \(hosts.dockerTLS?.caFile ?? "")",
            "docker_cert = \(hosts.dockerTLS?.certificateFile ?? "")",
            "docker_key = \(hosts.dockerTLS?.keyFile ?? "")",
            "",
            "[containers]",
        ]
        for scope in Scope.allCases { lines.append("\(scope.rawValue) = \(containers[scope, default: []].joined(separator: ", "))") }
        lines += ["", "[schedule]"]
        for payload in Payload.allCases { lines.append("\(payload.rawValue) = \(schedule[payload, default: 0])") }
        lines.append("watch_events = \(watchEvents)")
        lines += [
            "", "[engine]",
            "stop_timeout = \(engine.stopTimeoutSeconds)",
            "concurrency = \(engine.concurrency)",
            "state_dir = \(engine.stateDirectory)",
            "journal_days = \(engine.journalDays)",
            "", "[placement]",
            "container = \(placement.container)",
            "delete_orphans = \(placement.deleteOrphans)",
            "heal_missing = \(placement.healMissing)",
            "skip_port_allocations = \(placement.skipPortAllocations)",
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
            "", "[nova]",
        ]
        switch nova?.auth {
        case nil: lines.append("# not configured: compute_host_failure is off")
        case .token?: lines += ["auth = token", "token = ********"]
        case .password(let k)?:
            lines += [
                "auth = password", "auth_url = \(k.authURL)", "username = \(k.username)", "password = ********",
                "user_domain_name = \(k.userDomainName)", "project_name = \(k.projectName)",
                "project_domain_name = \(k.projectDomainName)", "region_name = \(k.regionName ?? "")", "interface = \(k.interface)",
            ]
        }
        if let nova {
            lines += ["endpoint = \(nova.endpoint ?? "")", "ca_file = \(nova.caFile ?? "")", "timeout = \(nova.timeoutSeconds)"]
        }
        let fenceText: String
        switch hostFailure.fence {
        case nil: fenceText = "# not configured: nothing is evacuated"
        case .none?: fenceText = "none"
        case .command(let words)?: fenceText = words.joined(separator: " ")
        }
        lines += [
            "", "[host_failure]",
            "host_down_after = \(hostFailure.hostDownAfterSeconds)",
            "max_hosts_down = \(hostFailure.maxHostsDown)",
            "max_hosts_down_percent = \(hostFailure.maxHostsDownPercent)",
            "fence = \(fenceText)",
            "fence_timeout = \(hostFailure.fenceTimeoutSeconds)",
            "max_parallel_evacuations = \(hostFailure.maxParallelEvacuations)",
            "evacuation_timeout = \(hostFailure.evacuationTimeoutSeconds)",
            "hosts_at_once = \(hostFailure.hostsAtOnce)",
            "opt_out_metadata = \(hostFailure.optOut.key)=\(hostFailure.optOut.value)",
            "unset_forced_down = \(hostFailure.unsetForcedDown)",
            "", "[metrics]",
            "engine_listen = \(metrics.engineListen?.description ?? "")",
            "monitor_listen = \(metrics.monitorListen?.description ?? "")",
            "", "[logging]",
            "log_dir = \(logging.directory)",
            "level = \(logging.level.rawValue)",
            "format = \(logging.format.rawValue)",
        ]
        return lines.joined(separator: "\n") + "\n"
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }

    /// Whether this is an `http://` or `https://` URL: the only ones the HTTP client fetches
    /// (config values, and the compute endpoint of Keystone's catalog).
    public var isHTTPURL: Bool { hasPrefix("http://") || hasPrefix("https://") }
}
