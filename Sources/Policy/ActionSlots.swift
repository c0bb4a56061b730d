/// Counting semaphores for actions: at most `perService` hosts acting on one service (a
/// container name) at a time, and at most `total` actions at once. An action without a
/// service takes only a global slot. Waiters are served first come, first served.
actor ActionSlots {
    private let perService: Int
    private let total: Int
    private var inUse: [String: Int] = [:]
    /// Services with a limit of their own (an action's `serviceLimit`).
    private var limits: [String: Int] = [:]
    private var inUseTotal = 0
    private var waiters: [(service: String?, continuation: CheckedContinuation<Void, Never>)] = []

    init(perService: Int, total: Int) {
        self.perService = max(perService, 1)
        self.total = max(total, 1)
    }

    private func fits(_ service: String?) -> Bool {
        inUseTotal < total && service.map { inUse[$0, default: 0] < limits[$0, default: perService] } ?? true
    }

    /// Waits for a slot; returns true if it had to wait. `limit` replaces `perService` for this service.
    func acquire(_ service: String?, limit: Int? = nil) async -> Bool {
        if let service, let limit { limits[service] = max(limit, 1) }
        if fits(service) && !waiters.contains(where: { $0.service == service }) {
            take(service)
            return false
        }
        await withCheckedContinuation { waiters.append((service, $0)) }
        return true
    }

    func release(_ service: String?) {
        if let service { inUse[service, default: 1] -= 1 }
        inUseTotal -= 1
        var i = 0
        while i < waiters.count {
            if fits(waiters[i].service) {
                let waiter = waiters.remove(at: i)
                take(waiter.service)
                waiter.continuation.resume()
            } else {
                i += 1
            }
        }
    }

    private func take(_ service: String?) {
        if let service { inUse[service, default: 0] += 1 }
        inUseTotal += 1
    }
}
