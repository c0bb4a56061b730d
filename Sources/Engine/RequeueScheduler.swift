import AutoHealCore
import FoundationEssentials
import Logging
import Messaging
import Policy
import ServiceLifecycle

/// Sends a request again when it is due — a target whose back-off ends, a target left
/// waiting for its health check or its grace after start — by publishing it to its scope's
/// queue, so whichever engine is active handles it (not necessarily this one).
///
/// Bounded so a flapping target cannot flood the broker: one pending request per payload,
/// scope and target (the earliest due time wins), none due sooner than ``minimumDelay`` after
/// it was asked for, at most ``capacity`` pending in all (more are dropped with a WARNING; the
/// periodic sweep still covers them). A published request expires after ``lifetime``. Pending
/// requests die with the process; the sweep is the safety net.
public final class RequeueScheduler: Requeuer, Service {
    public static let minimumDelay: Duration = .milliseconds(250)
    public static let lifetime: TimeInterval = 60
    public let capacity: Int

    private struct Key: Hashable {
        var payload: Payload
        var scope: Scope
        var target: TargetKey?
    }

    private struct State {
        var pending: [Key: (due: ContinuousClock.Instant, request: Envelope)] = [:]
        /// The sleep of ``run()``, cancelled when an earlier request arrives.
        var sleeper: Task<Void, Never>?
        var wakeAt: ContinuousClock.Instant?
        var dropped = 0
        var stopping = false
    }

    private let state = Locked(State())
    private let publisher: HealRequestPublisher
    private let logger: Logger

    public init(publisher: HealRequestPublisher, capacity: Int = 10_000, logger: Logger) {
        self.publisher = publisher
        self.capacity = capacity
        self.logger = logger
    }

    public func lookAgain(_ request: Envelope, at: ContinuousClock.Instant) {
        let due = max(at, .now + Self.minimumDelay)
        let key = Key(payload: request.payload, scope: request.scope, target: request.target)
        let (wake, dropped) = state.withLock { s -> (Task<Void, Never>?, Bool) in
            if let existing = s.pending[key], existing.due <= due { return (nil, false) }
            guard s.pending[key] != nil || s.pending.count < capacity else {
                s.dropped += 1
                return (nil, true)
            }
            s.pending[key] = (due, request)
            guard let wakeAt = s.wakeAt, due < wakeAt else { return (nil, false) }
            return (s.sleeper, false)
        }
        wake?.cancel()
        if dropped {
            logger.warning(
                "too many requests waiting to be sent again; this one is left to the next sweep",
                metadata: [
                    "capacity": "\(capacity)", "payload": "\(request.payload.rawValue)",
                    "target": "\(request.target.map { "\($0)" } ?? "sweep")",
                ])
        }
    }

    /// Requests waiting to be sent.
    public var pendingCount: Int { state.withLock { $0.pending.count } }

    public func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await loop()
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
    }

    /// Ends ``run()``: requests still pending are left to the sweeps.
    private func stop() {
        state.withLock { s -> Task<Void, Never>? in
            s.stopping = true
            return s.sleeper
        }?.cancel()
    }

    private func loop() async {
        while true {
            let now = ContinuousClock.now
            let due = state.withLock { s -> [Envelope] in
                let ready = s.pending.filter { $0.value.due <= now }
                for key in ready.keys { s.pending[key] = nil }
                return ready.values.sorted { $0.due < $1.due }.map(\.request)
            }
            for request in due { await send(request) }
            // Sleep until the next due time (at most a minute), or until an earlier one arrives.
            let sleeper = state.withLock { s -> Task<Void, Never>? in
                guard !s.stopping else { return nil }
                let next = min(s.pending.values.map(\.due).min() ?? .now + .seconds(60), .now + .seconds(60))
                let task = Task { _ = try? await Task.sleep(until: next, clock: .continuous) }
                s.sleeper = task
                s.wakeAt = next
                return task
            }
            guard let sleeper else { return }
            await sleeper.value
        }
    }

    private func send(_ template: Envelope) async {
        let now = Date()
        let request = Envelope(
            payload: template.payload, scope: template.scope, issuedAt: now, expiresAt: now.addingTimeInterval(Self.lifetime),
            target: template.target)
        do {
            try await publisher.publish(request, timeout: .seconds(10))
            logger.info(
                "looking again: request sent",
                metadata: [
                    "payload": "\(request.payload.rawValue)", "scope": "\(request.scope.rawValue)", "request": "\(request.id)",
                    "target": "\(request.target.map { "\($0)" } ?? "sweep")",
                ])
        } catch {
            logger.warning(
                "cannot send the request to look again; the next sweep covers it",
                metadata: [
                    "payload": "\(request.payload.rawValue)", "target": "\(request.target.map { "\($0)" } ?? "sweep")", "error": "\(error)",
                ])
        }
    }
}
