import Foundation
import Testing

/// `.ownThreads`: the tests of a suite run on ``TestThreadPool`` instead of Swift's global
/// pool.
///
/// Why: the global pool has one thread per core — two here (measured: eight tasks that each
/// block for 1 s take 4 s). The test helpers run `docker`, `virsh` and the CLI synchronously;
/// with six tests at once, two such waits took both threads, and the code under test in the
/// same process (a publisher's timeout, a sweep's deadline) stood still for seconds. CI's
/// timing failures of 2026-11-30 had this shape. The daemons themselves never block the pool;
/// this is about the test process only.
public struct OwnThreadsTrait: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        guard !test.isSuite else { return try await function() }
        try await withTaskExecutorPreference(TestThreadPool.shared) { try await function() }
    }
}

extension Trait where Self == OwnThreadsTrait {
    public static var ownThreads: Self { OwnThreadsTrait() }
}

/// A task executor with many threads, so that a blocked one leaves others to run on.
public final class TestThreadPool: TaskExecutor, @unchecked Sendable {
    public static let shared = TestThreadPool(threads: 32)

    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    private init(threads: Int) {
        for index in 0..<threads {
            let thread = Thread { [self] in work() }
            thread.name = "test-pool-\(index)"
            thread.start()
        }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
