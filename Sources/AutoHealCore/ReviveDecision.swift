import FoundationEssentials

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
/// | exited after a crash (not 0/143, or OOM-killed), dead, created | start |
/// | exited cleanly (0, or 143 after SIGTERM), not OOM | none: stopped on purpose (start with `revive_stopped`) |
/// | running, unhealthy, within `grace_after_start` of its start | wait |
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

    /// The policy knobs the table depends on.
    public struct Rules: Sendable, Equatable {
        /// Start containers that exited cleanly (exit 0 or 143), as if they had crashed.
        public var reviveStopped: Bool
        /// No restart of an unhealthy container this soon after it started.
        public var graceAfterStart: TimeInterval

        public init(reviveStopped: Bool = false, graceAfterStart: TimeInterval = 0) {
            self.reviveStopped = reviveStopped
            self.graceAfterStart = graceAfterStart
        }
    }

    public static func decide(_ seen: ContainerObservation, rules: Rules = Rules(), now: Date = Date()) -> ReviveDecision {
        switch seen.status {
        case "running":
            switch seen.health {
            case nil, "none": return .init(.none, "running without a health check")
            case "healthy": return .init(.none, "running and healthy")
            case "starting": return .init(.wait, "health check still starting")
            case "unhealthy":
                if let started = seen.startedAt, now.timeIntervalSince(started) < rules.graceAfterStart {
                    return .init(
                        .wait,
                        "unhealthy but started \(Int(now.timeIntervalSince(started)))s ago (grace_after_start \(Int(rules.graceAfterStart))s)"
                    )
                }
                return .init(.restart, "running but unhealthy")
            case let other?: return .init(.none, "running with unknown health \"\(other)\"")
            }
        case "paused": return .init(.unpause, "paused")
        case "exited":
            if seen.stoppedCleanly && !rules.reviveStopped {
                return .init(.none, "stopped on purpose (exit \(seen.exitCode)); revive_stopped = false")
            }
            return .init(.start, seen.oomKilled ? "exited, OOM-killed" : "exited with code \(seen.exitCode)")
        case "dead": return .init(.start, "dead")
        case "created": return .init(.start, "created but never started")
        case "restarting": return .init(.wait, "Docker is restarting it")
        case "removing": return .init(.wait, "being removed")
        default: return .init(.none, "unknown state \"\(seen.status)\"")
        }
    }
}
