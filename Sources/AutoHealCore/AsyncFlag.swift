import Locking

/// A flag tasks wait for: once set, every waiter goes on, and later waits return at once.
/// For "the shared state has been read", "the consumer thread has finished" and the like.
public final class AsyncFlag: Sendable {
    private struct State {
        var isSet = false
        var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]
        var nextID = 0
    }

    private let state = Locked(State())

    public init() {}

    public var isSet: Bool { state.withLock { $0.isSet } }

    /// Sets the flag and wakes every waiter.
    public func set() {
        let waiters = state.withLock { s -> [CheckedContinuation<Bool, Never>] in
            s.isSet = true
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: true) }
    }

    /// Waits until the flag is set; false if the task was cancelled first.
    @discardableResult
    public func wait() async -> Bool {
        let id = state.withLock { s -> Int in
            s.nextID += 1
            return s.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let ready = state.withLock { s -> Bool in
                    if s.isSet || Task.isCancelled { return true }
                    s.waiters[id] = continuation
                    return false
                }
                if ready { continuation.resume(returning: isSet) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: false)
        }
    }

    /// Waits until the flag is set, at most `timeout`; false if it was not set by then.
    public func wait(timeout: Duration) async -> Bool {
        if isSet { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.wait() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first || isSet
        }
    }
}
