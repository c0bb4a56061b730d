import AutoHealCore

/// What the engine remembers about requests, so a sweep is not run twice for nothing and a
/// request is not handled twice by this process.
///
/// - A sweep (a request without a target) of a payload and scope is superseded when another
///   sweep of the same payload and scope is running, started after this one was received,
///   or started less than ``collapseWindow`` ago: that run looks at a state at least as new
///   as the one the request was about. So after an outage a queue of stale sweeps, which
///   arrives within milliseconds, collapses into one run. Targeted requests never collapse.
/// - A request whose id was already handled (its ack lost with the connection, for
///   example) is not handled again; the last `capacity` ids are kept.
/// Times are this process's clock only, so clock skew between hosts cannot matter.
public actor RequestLedger {
    private struct SweepKey: Hashable {
        var payload: Payload
        var scope: Scope
    }

    private var lastSweepStart: [SweepKey: ContinuousClock.Instant] = [:]
    private var running: [SweepKey: Int] = [:]
    /// Sweeps of one payload and scope closer together than this are one sweep.
    public let collapseWindow: Duration
    private var handled: Set<String> = []
    private var handledOrder: [String] = []
    private let capacity: Int

    public init(capacity: Int = 10_000, collapseWindow: Duration = .seconds(2)) {
        self.capacity = capacity
        self.collapseWindow = collapseWindow
    }

    public enum Verdict: Equatable, Sendable {
        case run
        /// A sweep of the same payload and scope started after this one was received.
        case superseded
        /// This id was handled before.
        case duplicate
    }

    /// Decides whether to run a request received at `receivedAt`; a run counts as started now.
    public func admit(_ request: Envelope, receivedAt: ContinuousClock.Instant) -> Verdict {
        if handled.contains(request.id) { return .duplicate }
        guard request.target == nil else { return .run }
        let key = SweepKey(payload: request.payload, scope: request.scope)
        if running[key, default: 0] > 0 { return .superseded }
        if let started = lastSweepStart[key], started >= receivedAt || ContinuousClock.now - started < collapseWindow {
            return .superseded
        }
        lastSweepStart[key] = .now
        running[key, default: 0] += 1
        return .run
    }

    /// Remembers that a request admitted with ``admit(_:receivedAt:)`` was handled to the end.
    public func markHandled(_ request: Envelope) {
        if request.target == nil {
            running[SweepKey(payload: request.payload, scope: request.scope), default: 1] -= 1
        }
        let id = request.id
        guard handled.insert(id).inserted else { return }
        handledOrder.append(id)
        if handledOrder.count > capacity {
            let excess = handledOrder.count - capacity
            for old in handledOrder.prefix(excess) { handled.remove(old) }
            handledOrder.removeFirst(excess)
        }
    }
}
