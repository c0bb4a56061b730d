/// A change a handler wants made to the cloud. Handlers only describe actions; the policy
/// executor (module `Policy`) decides whether it may happen now — pause and exclusions, dry
/// run, restart budget, rolling slots — performs it, and records it.
public struct HealAction: Sendable, Equatable {
    public enum Kind: Sendable, Hashable, CustomStringConvertible {
        /// `POST /containers/{container}/start`.
        case start
        /// `POST /containers/{container}/unpause`.
        case unpause
        /// `POST /containers/{container}/restart?t=stop_timeout`.
        case restart
        /// `virsh resume UUID` in the `[libvirt] container`.
        case resumeDomain(uuid: String)
        /// `virsh dompmwakeup UUID` in the `[libvirt] container`.
        case wakeDomain(uuid: String)
        /// `nova-manage placement audit --delete --verbose` in the `[placement] container`.
        case deleteOrphanedAllocations
        /// `nova-manage placement heal_allocations --verbose` in the `[placement] container`.
        case healMissingAllocations
        /// `[host_failure] fence`: the configured command, for the action's host.
        case fence
        /// `PUT /os-services/{id}` with `forced_down: true` (Nova API 2.53).
        case forceDown(serviceID: String)
        /// `PUT /os-services/{id}` with `forced_down: false`.
        case unsetForcedDown(serviceID: String)
        /// `POST /servers/{id}/action` `{"evacuate": {}}`: rebuild the server on another host.
        case evacuate(server: String)

        /// The short name logs, metrics and the journal use.
        public var description: String {
            switch self {
            case .start: "start"
            case .unpause: "unpause"
            case .restart: "restart"
            case .resumeDomain: "resume"
            case .wakeDomain: "dompmwakeup"
            case .deleteOrphanedAllocations: "audit --delete"
            case .healMissingAllocations: "heal_allocations"
            case .fence: "fence"
            case .forceDown: "force_down"
            case .unsetForcedDown: "unset_forced_down"
            case .evacuate: "evacuate"
            }
        }

        /// "start the container", for lines such as "dry run: would start the container".
        public var phrase: String {
            switch self {
            case .start: "start the container"
            case .unpause: "unpause the container"
            case .restart: "restart the container"
            case .resumeDomain: "resume the domain"
            case .wakeDomain: "wake the domain (dompmwakeup)"
            case .deleteOrphanedAllocations: "delete orphaned allocations (nova-manage placement audit --delete)"
            case .healMissingAllocations: "create missing allocations (nova-manage placement heal_allocations)"
            case .fence: "fence the host ([host_failure] fence)"
            case .forceDown: "force the host's nova-compute service down"
            case .unsetForcedDown: "clear forced_down of the host's nova-compute service"
            case .evacuate(let server): "evacuate server \(server)"
            }
        }
    }

    /// The handler that wants it.
    public var handler: Payload
    public var kind: Kind
    /// The Docker host it runs on, as named in the config.
    public var host: String
    /// The container it changes, or runs its command in.
    public var container: String
    /// What the restart budget, exclusions and the journal count it against:
    /// `host/container`, `host/domain:UUID`, or `placement/<step>`.
    public var target: TargetKey
    /// The state that made the handler want it ("exited(137)", "paused (I/O error)").
    public var seen: String
    public var reason: String
    /// Rolling: at most `max_parallel_per_service` hosts act on one service at once. nil:
    /// only the global `max_parallel_actions` applies.
    public var service: String?
    /// How many actions on `service` may run at once, when not `max_parallel_per_service`.
    public var serviceLimit: Int?
    /// The request that looks at the target again once its back-off ends; nil leaves it to
    /// the next periodic run.
    public var recheck: Envelope?
    /// The NOTICE line once it succeeded ("revived container", "woke domain").
    public var doneMessage: String

    public init(
        handler: Payload, kind: Kind, host: String, container: String, target: TargetKey, seen: String, reason: String,
        service: String? = nil, serviceLimit: Int? = nil, recheck: Envelope? = nil, doneMessage: String
    ) {
        self.serviceLimit = serviceLimit
        self.handler = handler
        self.kind = kind
        self.host = host
        self.container = container
        self.target = target
        self.seen = seen
        self.reason = reason
        self.service = service
        self.recheck = recheck
        self.doneMessage = doneMessage
    }

    /// The keys an operator's exclusion (`autoheal pause --target`) may name to stop this
    /// action: its target, and the container it runs in (excluding `host/nova_libvirt`
    /// leaves that host's domains alone too).
    public var exclusionKeys: [TargetKey] {
        let runsIn = TargetKey(host: host, container: container)
        return runsIn == target ? [target] : [target, runsIn]
    }
}
