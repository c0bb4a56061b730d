import Locking

/// At most `limit` holders at once; the others wait in arrival order. Used to bound the
/// requests in flight to one Docker host, so a sweep of many containers does not open a
/// connection per container on a small host.
final class RequestLimiter: Sendable {
    /// Places free.
    private let free: AsyncCondition<Int>

    init(limit: Int) {
        free = AsyncCondition(max(limit, 1))
    }

    /// Returns once a place is free, taking it; false (nothing taken) if the task was
    /// cancelled first.
    func acquire() async -> Bool {
        await free.wait { free -> Void? in
            guard free > 0 else { return nil }
            free -= 1
            return ()
        } != nil
    }

    /// Gives the place back, to the next waiter if there is one.
    func release() {
        free.update { $0 += 1 }
    }
}
