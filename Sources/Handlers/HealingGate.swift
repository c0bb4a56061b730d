import Foundation
import AutoHealCore

/// Whether the engine may change anything right now, asked before every action.
///
/// Returns nil when healing may act, or the reason it may not (a maintenance pause, with
/// who/why/until): the handler then only observes and logs what it would have done.
public protocol HealingGate: Sendable {
    /// Why nothing may be changed now, or nil. `target` is the container about to be acted
    /// on (an operator may have excluded it for a while).
    func pauseReason(for target: TargetKey?) async -> String?

    /// When an operator last released the target from quarantine (`autoheal release`), if ever.
    func releasedAt(_ target: TargetKey) async -> Date?
}

/// Never paused, never released.
public struct OpenGate: HealingGate {
    public init() {}
    public func pauseReason(for target: TargetKey?) async -> String? { nil }
    public func releasedAt(_ target: TargetKey) async -> Date? { nil }
}
