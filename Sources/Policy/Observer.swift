import AutoHealCore
import DockerAPI
import NovaAPI

/// What a handler may do to look at the cloud: read a container's state, and run a command
/// that only reads (``Probe``). Nothing that changes the cloud goes through here: handlers ask
/// the ``PolicyExecutor`` for that.
public struct Observer: Sendable {
    private let runtimes: any ContainerRuntimes
    private let config: AutoHealConfig
    private let nova: (any NovaCompute)?

    public init(config: AutoHealConfig, runtimes: any ContainerRuntimes, nova: (any NovaCompute)? = nil) {
        self.config = config
        self.runtimes = runtimes
        self.nova = nova
    }

    /// Whether the host's Docker API answers now.
    public func dockerAnswers(_ host: String) async -> Bool {
        guard let runtime = runtimes.runtime(forHost: host) else { return false }
        do {
            try await runtime.ping()
            return true
        } catch {
            return false
        }
    }

    /// Whether the Nova API is configured.
    public var hasNova: Bool { nova != nil }

    /// The nova-compute services Nova knows.
    public func computeServices() async throws(NovaError) -> [NovaService] {
        try await novaAPI().services(binary: "nova-compute")
    }

    /// The servers Nova places on a host.
    public func servers(onHost host: String) async throws(NovaError) -> [NovaServer] { try await novaAPI().servers(onHost: host) }

    public func server(_ id: String) async throws(NovaError) -> NovaServer { try await novaAPI().server(id) }

    private func novaAPI() throws(NovaError) -> any NovaCompute {
        guard let nova else { throw .authentication("no [nova] section in the config") }
        return nova
    }

    /// A command that reads and changes nothing, with the container it runs in.
    public enum Probe: Sendable, Equatable {
        /// `virsh list --all --uuid` in the `[libvirt] container`.
        case listDomains
        /// `virsh domstate --reason UUID` in the `[libvirt] container`.
        case domainState(uuid: String)
        /// `virsh domuuid NAME` in the `[libvirt] container`.
        case domainUUID(name: String)
        /// `nova-manage placement audit --verbose` in the `[placement] container`.
        case placementAudit
        /// `nova-manage placement heal_allocations --dry-run --verbose`: what healing would create.
        case placementHealDryRun

        func command(_ config: AutoHealConfig) -> [String] {
            switch self {
            case .listDomains: ["virsh", "list", "--all", "--uuid"]
            case .domainState(let uuid): ["virsh", "domstate", "--reason", uuid]
            case .domainUUID(let name): ["virsh", "domuuid", name]
            case .placementAudit: ["nova-manage", "placement", "audit", "--verbose"]
            case .placementHealDryRun:
                ["nova-manage", "placement", "heal_allocations", "--dry-run", "--verbose"]
                    + (config.placement.skipPortAllocations ? ["--skip-port-allocations"] : [])
            }
        }
    }

    /// Whether the config names this host (and so the healer may look at it).
    public func knows(host: String) -> Bool { runtimes.runtime(forHost: host) != nil }

    public func inspect(_ container: String, on host: String) async throws(DockerError) -> ContainerDetails {
        try await runtime(host).inspectContainer(container)
    }

    /// Runs the probe on `host`; its command line is `command(for:)`.
    public func run(_ probe: Probe, on host: String) async throws(DockerError) -> ExecResult {
        let (container, timeout) = site(probe)
        return try await runtime(host).exec(container, command: probe.command(config), timeout: timeout)
    }

    /// The probe's command line, for log lines.
    public func command(for probe: Probe) -> String { probe.command(config).joined(separator: " ") }

    /// The container a probe runs in, for log lines.
    public func container(for probe: Probe) -> String { site(probe).container }

    private func site(_ probe: Probe) -> (container: String, timeout: Duration) {
        switch probe {
        case .listDomains, .domainState, .domainUUID: (config.libvirt.container, .seconds(config.libvirt.commandTimeoutSeconds))
        case .placementAudit, .placementHealDryRun: (config.placement.container, .seconds(config.placement.commandTimeoutSeconds))
        }
    }

    private func runtime(_ host: String) throws(DockerError) -> any ContainerRuntime {
        guard let runtime = runtimes.runtime(forHost: host) else {
            throw .unreachable(host: host, detail: "not a host of the config")
        }
        return runtime
    }
}
