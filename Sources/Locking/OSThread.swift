import CThread

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A thread of its own, outside Swift's cooperative pool, for work that blocks in C (the
/// broker's socket, curl's poll). A detached pthread, not Foundation's `Thread`: the daemons'
/// modules import only `FoundationEssentials`, which has no threads.
public enum OSThread {
    /// Starts `body` on a new detached thread named `name` (Linux keeps the first 15 bytes,
    /// shown by `top -H` and in gdb). A thread that cannot be created ends the program: the
    /// caller cannot work without it, and it means the process is out of resources.
    public static func start(name: String, _ body: @escaping @Sendable () -> Void) {
        final class Box: Sendable {
            let name: String
            let body: @Sendable () -> Void
            init(name: String, body: @escaping @Sendable () -> Void) {
                self.name = name
                self.body = body
            }
        }
        let box = Unmanaged.passRetained(Box(name: name, body: body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let status = pthread_create(
            &thread, &attributes,
            { raw in
                let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
                _ = cah_thread_set_name(String(box.name.utf8.prefix(15))!)
                box.body()
                return nil
            }, box)
        precondition(status == 0, "cannot start thread \(name): error \(status)")
    }

    /// Blocks the calling thread (never a task of the cooperative pool) for `seconds`.
    public static func sleep(seconds: Double) {
        guard seconds > 0 else { return }
        var left = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        var request = left
        while nanosleep(&request, &left) == -1 && errno == EINTR { request = left }
    }
}

extension OSThread {
    /// Runs `body` on a task and blocks the calling thread until the task returns its value:
    /// the bridge from a thread of our own (an `OSThread`, or the main thread of a daemon) into
    /// async code. Never call it on a thread of the cooperative pool, which it would block.
    public static func waitForTask<Value: Sendable>(_ body: @escaping @Sendable () async -> Value) -> Value {
        let result = Locked<Value?>(nil)
        let done = ThreadCondition()
        Task.detached {
            let value = await body()
            done.lock()
            result.withLock { $0 = value }
            done.signal()
            done.unlock()
        }
        done.lock()
        while result.withLock({ $0 == nil }) { done.wait(seconds: 60) }
        done.unlock()
        return result.withLock { $0 }!
    }
}

/// A lock with a condition, for a thread that waits for work (the publisher's thread): the
/// pthread pair, in place of Foundation's `NSCondition`.
public final class ThreadCondition: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }
    /// Wakes one waiter; call it holding the lock.
    public func signal() { pthread_cond_signal(condition) }

    /// Waits, holding the lock, until signalled or `seconds` have passed (on the monotonic
    /// clock); returns false on the timeout. A waiter can also wake for no reason: check the
    /// state after.
    @discardableResult
    public func wait(seconds: Double) -> Bool {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let nanoseconds = Int(max(seconds, 0) * 1e9) + deadline.tv_nsec
        deadline.tv_sec += nanoseconds / 1_000_000_000
        deadline.tv_nsec = nanoseconds % 1_000_000_000
        return pthread_cond_timedwait(condition, mutex, &deadline) == 0
    }
}
