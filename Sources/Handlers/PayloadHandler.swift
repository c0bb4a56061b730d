import AutoHealCore
import Policy

/// What one payload does. A handler is given a request that was already validated for
/// its scope, acts on the hosts of that scope, and returns when everything it started has
/// finished (the engine acks the message then).
///
/// Handlers never throw: a problem with one target is logged for that target and the
/// others still get handled. Every run re-reads the actual state before acting, so a
/// redelivered request is harmless.
public protocol PayloadHandler: Sendable {
    func handle(_ request: Envelope) async -> HandlerOutcome
}

/// A summary of one handler run, for the engine's log line.
public struct HandlerOutcome: Sendable, Equatable, CustomStringConvertible {
    /// Targets looked at.
    public var checked = 0
    /// Actions that changed something and succeeded.
    public var acted = 0
    /// Targets that could not be checked or whose action failed.
    public var failed = 0
    /// Targets left alone on purpose (waiting, or left to a person).
    public var skipped = 0

    public init(checked: Int = 0, acted: Int = 0, failed: Int = 0, skipped: Int = 0) {
        self.checked = checked
        self.acted = acted
        self.failed = failed
        self.skipped = skipped
    }

    public static func + (a: HandlerOutcome, b: HandlerOutcome) -> HandlerOutcome {
        HandlerOutcome(
            checked: a.checked + b.checked, acted: a.acted + b.acted, failed: a.failed + b.failed, skipped: a.skipped + b.skipped)
    }

    public var description: String { "checked=\(checked) acted=\(acted) failed=\(failed) skipped=\(skipped)" }
}

extension HandlerOutcome {
    /// One target looked at, counted by what became of the action asked for it.
    public init(checked: Int, for action: ActionOutcome) {
        switch action {
        case .done: self.init(checked: checked, acted: 1)
        case .failed: self.init(checked: checked, failed: 1)
        case .refused(.noLongerNeeded): self.init(checked: checked)
        case .refused: self.init(checked: checked, skipped: 1)
        }
    }
}
