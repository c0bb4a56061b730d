import AutoHealCore

/// What the libvirt waker does about one domain, from its `virsh domstate --reason`.
///
/// | state (reason)                                   | action |
/// |--------------------------------------------------|--------|
/// | pmsuspended                                      | `virsh dompmwakeup` |
/// | paused, reason in `resume_reasons` (I/O error, unknown) | `virsh resume` |
/// | paused (user)                                    | resume only with `resume_user_paused` |
/// | paused by a job: migrating, saving, dumping, snapshot, post-copy, starting up | never touched |
/// | paused for another reason                        | left alone (logged) |
/// | running, idle, shut off, crashed, anything else  | nothing (shut off is never woken) |
public struct LibvirtWakeDecision: Sendable, Equatable {
    public enum Action: String, Sendable {
        case none, resume, wake
    }

    public var action: Action
    public var reason: String

    public init(_ action: Action, _ reason: String) {
        self.action = action
        self.reason = reason
    }

    /// Paused reasons that mean a libvirt job owns the pause.
    static let jobReasons = [
        "migrating", "saving", "dumping", "from snapshot", "creating snapshot", "snapshot", "post-copy", "post-copy failed", "starting up",
        "shutting down",
    ]

    public static func decide(_ seen: LibvirtDomainState, settings: AutoHealConfig.Libvirt) -> LibvirtWakeDecision {
        let reason = seen.reason.lowercased()
        switch seen.state {
        case "pmsuspended":
            return .init(.wake, "power-suspended")
        case "paused":
            if jobReasons.contains(reason) { return .init(.none, "paused by a libvirt job (\(seen.reason)): never touched") }
            if reason == "user" {
                return settings.resumeUserPaused
                    ? .init(.resume, "paused by a user; resume_user_paused = true")
                    : .init(.none, "paused by a user (resume_user_paused = false)")
            }
            if settings.resumeReasons.contains(where: { $0.lowercased() == reason }) {
                return .init(.resume, "paused (\(seen.reason))")
            }
            return .init(.none, "paused (\(seen.reason)), not in resume_reasons")
        case "shut off", "shutdown":
            return .init(.none, "shut off: never woken")
        default:
            return .init(.none, seen.description)
        }
    }
}
