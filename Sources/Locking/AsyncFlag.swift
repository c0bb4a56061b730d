/// A flag tasks wait for: once set, every waiter goes on, and later waits return at once.
/// For "the shared state has been read", "the consumer thread has finished" and the like.
public final class AsyncFlag: Sendable {
    private let flag = AsyncCondition(false)

    public init() {}

    public var isSet: Bool { flag.value }

    /// Sets the flag and wakes every waiter.
    public func set() {
        flag.update { $0 = true }
    }

    /// Waits until the flag is set; false if the task was cancelled first.
    @discardableResult
    public func wait() async -> Bool {
        await flag.wait { $0 ? () : nil } != nil
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
