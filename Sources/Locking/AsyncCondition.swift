/// The one waiter primitive of the package: a state behind ``Locked`` and the tasks waiting
/// for a condition on it. Slots, claims, run turns, flags and limits are each a few lines on
/// top of it, instead of each keeping a list of continuations of its own.
///
/// Every change goes through ``update(_:)``; once the change is made, and still under the
/// lock, each waiter whose condition now holds is served in arrival order (its condition
/// may take what it found: a slot, a claim), so no newcomer can take a turn that an earlier
/// waiter could have used. A waiting task that is cancelled stops waiting at once with `nil`.
public final class AsyncCondition<State>: @unchecked Sendable {
    @usableFromInline struct Waiter {
        @usableFromInline let id: Int
        /// Under the lock: nil while the condition does not hold; else what resumes the task.
        @usableFromInline let attempt: (inout State) -> (() -> Void)?
        @usableFromInline let cancel: () -> Void

        @inlinable init(id: Int, attempt: @escaping (inout State) -> (() -> Void)?, cancel: @escaping () -> Void) {
            self.id = id
            self.attempt = attempt
            self.cancel = cancel
        }
    }

    @usableFromInline struct Storage {
        @usableFromInline var state: State
        @usableFromInline var waiters: [Waiter] = []
        @usableFromInline var nextID = 0

        @inlinable init(state: State) { self.state = state }

        /// Serves every waiter whose condition holds now, in arrival order; returns their wakes.
        @inlinable mutating func serveReady() -> [() -> Void] {
            guard !waiters.isEmpty else { return [] }
            var wakes: [() -> Void] = []
            waiters.removeAll { waiter in
                guard let wake = waiter.attempt(&state) else { return false }
                wakes.append(wake)
                return true
            }
            return wakes
        }
    }

    @usableFromInline let storage: Locked<Storage>

    @inlinable public init(_ state: State) {
        storage = Locked(Storage(state: state))
    }

    /// Reads the state (a copy taken under the lock).
    @inlinable public var value: State { storage.withLock { $0.state } }

    /// Tasks waiting now.
    @inlinable public var waiting: Int { storage.withLock { $0.waiters.count } }

    /// Changes the state under the lock, then wakes every waiter whose condition now holds.
    /// Keep `body` short and never `await` in it.
    @discardableResult @inlinable
    public func update<Result>(_ body: (inout State) -> Result) -> Result {
        let (result, wakes) = storage.withLock { s in
            let result = body(&s.state)
            return (result, s.serveReady())
        }
        for wake in wakes { wake() }
        return result
    }

    /// Waits until `condition` returns a value, and returns it; `nil` if the task was
    /// cancelled before it held. `condition` runs under the lock, now and after each update,
    /// and may change the state when it holds (take a slot); it must not when it returns nil.
    @inlinable
    public func wait<Value: Sendable>(until condition: @escaping @Sendable (inout State) -> Value?) async -> Value? {
        // Holds now (the common case: a free place): no continuation, no cancellation handler.
        let now = storage.withLock { s -> (value: Value?, id: Int) in
            if let value = condition(&s.state) { return (value, 0) }
            s.nextID += 1
            return (nil, s.nextID)
        }
        if let value = now.value { return value }
        let id = now.id
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Value?, Never>) in
                let now: Value?? = storage.withLock { s in
                    if Task.isCancelled { return .some(nil) }
                    if let value = condition(&s.state) { return .some(value) }
                    s.waiters.append(
                        Waiter(
                            id: id,
                            attempt: { state in condition(&state).map { value in { continuation.resume(returning: value) } } },
                            cancel: { continuation.resume(returning: nil) }))
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            let waiter = storage.withLock { s -> Waiter? in
                guard let index = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: index)
            }
            waiter?.cancel()
        }
    }
}
