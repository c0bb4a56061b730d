import Locking

/// Counting semaphores for actions: at most `perService` hosts acting on one service (a
/// container name) at a time, and at most `total` actions at once. An action without a
/// service takes only a global slot. Waiters are served first come, first served.
final class ActionSlots: Sendable {
    enum Turn: Equatable {
        /// A slot was free.
        case now
        /// The slot came after waiting: what the action was decided on may be stale.
        case afterWaiting
        /// The task was cancelled while waiting: no slot taken.
        case cancelled
    }

    private struct State {
        let perService: Int
        let total: Int
        var inUse: [String: Int] = [:]
        /// Services with a limit of their own (an action's `serviceLimit`).
        var limits: [String: Int] = [:]
        var inUseTotal = 0

        /// Takes a slot for `service` if one is free.
        mutating func take(_ service: String?) -> Void? {
            guard inUseTotal < total else { return nil }
            if let service {
                guard inUse[service, default: 0] < limits[service, default: perService] else { return nil }
                inUse[service, default: 0] += 1
            }
            inUseTotal += 1
            return ()
        }
    }

    private let state: AsyncCondition<State>

    init(perService: Int, total: Int) {
        state = AsyncCondition(State(perService: max(perService, 1), total: max(total, 1)))
    }

    /// Waits for a slot. `limit` replaces `perService` for this service.
    func acquire(_ service: String?, limit: Int? = nil) async -> Turn {
        if let service, let limit { state.update { $0.limits[service] = max(limit, 1) } }
        if state.update({ $0.take(service) }) != nil { return .now }
        return await state.wait(until: { $0.take(service) }) != nil ? .afterWaiting : .cancelled
    }

    func release(_ service: String?) {
        state.update { s in
            if let service { s.inUse[service, default: 1] -= 1 }
            s.inUseTotal -= 1
        }
    }

    /// Tasks waiting now.
    var waiting: Int { state.waiting }
}
