import AutoHealCore

/// Whether the engine may change anything right now, asked before every action.
///
/// Returns nil when healing may act, or the reason it may not (a maintenance pause, with
/// who/why/until): the handler then only observes and logs what it would have done.
public protocol HealingGate: Sendable {
    /// Why nothing may be changed now, or nil. `target` is the container about to be acted
    /// on (an operator may have excluded it for a while).
    func pauseReason(for target: TargetKey?) async -> String?
}

/// Never paused.
public struct OpenGate: HealingGate {
    public init() {}
    public func pauseReason(for target: TargetKey?) async -> String? { nil }
}
