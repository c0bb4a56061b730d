#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The one lock of the package: a value that several threads share, reached only inside
/// ``withLock(_:)``.
///
/// A `pthread_mutex_t`, not `Synchronization.Mutex`: ThreadSanitizer does not see Mutex's
/// futex, so it reports every access under a Mutex as a race (NOTES.md), and a race checker
/// that cries wolf on every lock hides the real races. TSan knows pthread mutexes.
///
/// `@inlinable`, as is ``AsyncCondition``: callers in other modules get it specialized for
/// their value, instead of a generic call that looks up type metadata at run time (with the
/// consumer's ack loop on it, that lookup was a tenth of the engine's CPU in dispatch).
public final class Locked<Value>: @unchecked Sendable {
    // Allocated, not a stored property: a mutex must not move, and `&property` on a class
    // gives no stable address.
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline var value: Value

    public init(_ value: Value) {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        self.value = value
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value, holding the lock; keep it short and never `await` in it.
    @inlinable
    public func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
