import AutoHealCore

/// Sends a request again later: when a target's back-off ends, or when a target left
/// waiting (health `starting`, `grace_after_start`) should be looked at again. The engine's
/// ``RequeueScheduler`` publishes it to the broker when it is due, so whichever engine is
/// active handles it.
public protocol Requeuer: Sendable {
    func lookAgain(_ request: Envelope, at: ContinuousClock.Instant)
}

/// No requeues: the next periodic run looks again.
public struct NoRequeue: Requeuer {
    public init() {}
    public func lookAgain(_ request: Envelope, at: ContinuousClock.Instant) {}
}

/// Leaves this engine's changes to the shared state on the broker's state stream, for the
/// other engines (and for this one after a restart).
public protocol StatePublisher: Sendable {
    /// Returns once the broker confirmed the message.
    func publish(_ message: SharedStateMessage) async throws
}
