import AutoHealCore
import AutoHealTestSupport
import Testing

@testable import Handlers
@testable import Locking
@testable import Policy

/// The one waiter primitive, and the slots, claims and run turns built on it: served in
/// arrival order, nothing jumps the queue, and a cancelled waiter ends at once without
/// taking anything.
@Suite("Waiting for a condition", .timeLimit(.minutes(1)))
struct AsyncConditionTests {
    /// Waits (with a deadline) until `count` tasks wait on `condition`.
    func waiters<State>(_ condition: AsyncCondition<State>, _ count: Int) async throws {
        try await waitUntil("\(count) waiter(s)", timeout: .seconds(10), every: .milliseconds(5)) { condition.waiting == count }
    }

    @Test("a freed place goes to the earliest waiter, and a newcomer does not jump the queue")
    func firstComeFirstServed() async throws {
        let free = AsyncCondition(0)
        let order = Locked<[Int]>([])
        var tasks: [Task<Void, Never>] = []
        for i in 0..<3 {
            tasks.append(
                Task {
                    _ = await free.wait { free -> Void? in
                        guard free > 0 else { return nil }
                        free -= 1
                        return ()
                    }
                    order.withLock { $0.append(i) }
                })
            try await waiters(free, i + 1)
        }
        for expected in 1...3 {
            free.update { $0 += 1 }
            try await waitUntil("waiter \(expected - 1) served", timeout: .seconds(10), every: .milliseconds(5)) {
                order.withLock { $0.count } == expected
            }
            // Served under the update's lock: nothing was left for anyone else to take.
            #expect(free.value == 0)
        }
        for task in tasks { await task.value }
        #expect(order.withLock { $0 } == [0, 1, 2])
    }

    @Test("a cancelled waiter ends at once with nil and never takes what comes later")
    func cancelledWaiterTakesNothing() async throws {
        let free = AsyncCondition(0)
        let task = Task {
            await free.wait { free -> Void? in
                guard free > 0 else { return nil }
                free -= 1
                return ()
            }
        }
        try await waiters(free, 1)
        task.cancel()
        #expect(await task.value == nil)
        #expect(free.waiting == 0)
        free.update { $0 += 1 }
        #expect(free.value == 1)
    }

    @Test("a rolling slot: waiting reported, cancellation leaves no slot taken")
    func actionSlots() async throws {
        let slots = ActionSlots(perService: 1, total: 4)
        #expect(await slots.acquire("nova_api") == .now)
        let waiting = Task { await slots.acquire("nova_api") }
        let cancelled = Task { await slots.acquire("nova_api") }
        // Another service is not held up by the queue for this one.
        #expect(await slots.acquire("glance_api") == .now)
        try await waitUntil("two actions waiting", timeout: .seconds(10), every: .milliseconds(5)) {
            slots.waiting == 2
        }
        cancelled.cancel()
        #expect(await cancelled.value == .cancelled)
        slots.release("nova_api")
        #expect(await waiting.value == .afterWaiting)
        slots.release("nova_api")
        #expect(await slots.acquire("nova_api") == .now)
    }

    @Test("target claims: a targeted request waits for the claim; a cancelled one does not take it")
    func targetClaims() async throws {
        let claims = TargetClaims()
        let target = TargetKey(host: "unix:///var/run/docker.sock", container: "nova_api")
        #expect(claims.claim(target))
        #expect(!claims.claim(target))
        let cancelled = Task { await claims.claimWhenFree(target) }
        try await waitUntil("the waiter", timeout: .seconds(10), every: .milliseconds(5)) { claims.waiting == 1 }
        cancelled.cancel()
        #expect(await cancelled.value == false)
        let waiting = Task { await claims.claimWhenFree(target) }
        try await waitUntil("the waiter", timeout: .seconds(10), every: .milliseconds(5)) { claims.waiting == 1 }
        claims.release(target)
        #expect(await waiting.value)
        #expect(!claims.claim(target))
    }

    @Test("allocation heal turns: one run, a burst covered by the next, a cancelled wait is neither")
    func runTurns() async throws {
        let runs = RunCoalescer()
        #expect(await runs.enter() == .run)
        let second = Task { await runs.enter() }
        let third = Task { await runs.enter() }
        let cancelled = Task { await runs.enter() }
        try await waitUntil("three waiting", timeout: .seconds(10), every: .milliseconds(5)) { runs.waiting == 3 }
        cancelled.cancel()
        #expect(await cancelled.value == .cancelled)
        runs.leave()
        // One of the two takes the next run; the other waits for it and is covered by it.
        try await waitUntil("the next run", timeout: .seconds(10), every: .milliseconds(5)) { runs.waiting == 1 }
        runs.leave()
        let turns = [await second.value, await third.value]
        #expect(turns.filter { $0 == .run }.count == 1 && turns.filter { $0 == .covered }.count == 1)
    }
}
