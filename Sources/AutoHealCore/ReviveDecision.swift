/// What the container reviver does about one observed container, and why.
///
/// A pure function of the observation, so the whole table is unit-tested without Docker:
///
/// | seen                                   | action    |
/// |----------------------------------------|-----------|
/// | running, healthy or no health check    | none      |
/// | running, health `starting`             | wait      |
/// | running, `unhealthy`                   | restart   |
/// | paused                                 | unpause   |
/// | exited, dead, created                  | start     |
/// | restarting, removing                   | wait      |
/// | anything else                          | none (logged as unknown) |
public struct ReviveDecision: Sendable, Equatable {
    public enum Action: String, Sendable {
        case none, wait, restart, start, unpause

        /// Whether the action changes the container.
        public var changesContainer: Bool { self == .restart || self == .start || self == .unpause }
    }

    public var action: Action
    public var reason: String

    public init(_ action: Action, _ reason: String) {
        self.action = action
        self.reason = reason
    }

    public static func decide(_ seen: ContainerObservation) -> ReviveDecision {
        switch seen.status {
        case "running":
            switch seen.health {
            case nil, "none": return .init(.none, "running without a health check")
            case "healthy": return .init(.none, "running and healthy")
            case "starting": return .init(.wait, "health check still starting")
            case "unhealthy": return .init(.restart, "running but unhealthy")
            case let other?: return .init(.none, "running with unknown health \"\(other)\"")
            }
        case "paused": return .init(.unpause, "paused")
        case "exited": return .init(.start, seen.oomKilled ? "exited, OOM-killed" : "exited with code \(seen.exitCode)")
        case "dead": return .init(.start, "dead")
        case "created": return .init(.start, "created but never started")
        case "restarting": return .init(.wait, "Docker is restarting it")
        case "removing": return .init(.wait, "being removed")
        default: return .init(.none, "unknown state \"\(seen.status)\"")
        }
    }
}
