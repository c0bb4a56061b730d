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
/// - A second copy of a request being handled right now (the publisher sent it again after a
///   broker restart lost its confirm, and the broker kept the first: both arrive together)
///   waits for the first copy's end: a duplicate once it was handled, run if it was given up.
///   Acking it at once would lose the request if the first copy's handler is cut short.
/// Times are this process's clock only, so clock skew between hosts cannot matter.
public final class RequestLedger: Sendable {
    private struct SweepKey: Hashable {
        var payload: Payload
        var scope: Scope
    }

    private struct State {
        var lastSweepStart: [SweepKey: ContinuousClock.Instant] = [:]
        var running: [SweepKey: Int] = [:]
        var handled: Set<String> = []
        var handledOrder: [String] = []
        /// Ids admitted to run and not yet handled or given up.
        var inProgress: Set<String> = []
    }

    private let state = AsyncCondition(State())
    /// Sweeps of one payload and scope closer together than this are one sweep.
    public let collapseWindow: Duration
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
        /// The task was cancelled while another copy of the request was being handled.
        case cancelled
    }

    /// Decides whether to run a request received at `receivedAt`; a run counts as started now.
    /// Waits while another copy of the same request is being handled.
    public func admit(_ request: Envelope, receivedAt: ContinuousClock.Instant) async -> Verdict {
        let (id, target, window) = (request.id, request.target, collapseWindow)
        let key = SweepKey(payload: request.payload, scope: request.scope)
        return await state.wait { s -> Verdict? in
            if s.handled.contains(id) { return .duplicate }
            if s.inProgress.contains(id) { return nil }
            if target == nil {
                if s.running[key, default: 0] > 0 { return .superseded }
                if let started = s.lastSweepStart[key], started >= receivedAt || ContinuousClock.now - started < window {
                    return .superseded
                }
                s.lastSweepStart[key] = .now
                s.running[key, default: 0] += 1
            }
            s.inProgress.insert(id)
            return .run
        } ?? .cancelled
    }

    /// Remembers that a request admitted with ``admit(_:receivedAt:)`` was handled to the end.
    public func markHandled(_ request: Envelope) {
        let capacity = capacity
        end(request) { s in
            guard s.handled.insert(request.id).inserted else { return }
            s.handledOrder.append(request.id)
            if s.handledOrder.count > capacity {
                let excess = s.handledOrder.count - capacity
                for old in s.handledOrder.prefix(excess) { s.handled.remove(old) }
                s.handledOrder.removeFirst(excess)
            }
        }
    }

    /// Forgets a request admitted with ``admit(_:receivedAt:)`` whose handler was cut short
    /// (not acked): a copy waiting for it runs. A sweep cut short looked at nothing newer, so
    /// it supersedes nothing once no other sweep of its payload and scope runs.
    public func giveUp(_ request: Envelope) {
        end(request) { s in
            let key = SweepKey(payload: request.payload, scope: request.scope)
            if request.target == nil, s.running[key, default: 0] <= 0 { s.lastSweepStart[key] = nil }
        }
    }

    /// Copies waiting now for another copy's end.
    var waiting: Int { state.waiting }

    private func end(_ request: Envelope, _ body: (inout State) -> Void) {
        state.update { s in
            if request.target == nil {
                s.running[SweepKey(payload: request.payload, scope: request.scope), default: 1] -= 1
            }
            s.inProgress.remove(request.id)
            body(&s)
        }
    }
}
