import Foundation
import Testing

@testable import AutoHealCore

@Suite("Restart budget")
struct RestartBudgetTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let target = TargetKey(host: "cmp1", container: "domain:6f1c")
    var budget = RestartBudget(limits: .init(backoffInitial: 10, backoffMax: 300, healthyReset: 600, maxAttempts: 3, attemptWindow: 1800))

    @Test mutating func delaysDoubleThenTheTargetIsQuarantined() {
        #expect(budget.verdict(for: target, now: t0) == .allowed(attempt: 1))
        budget.recordAction(target, now: t0)
        #expect(budget.verdict(for: target, now: t0 + 5) == .backingOff(until: t0 + 10))
        #expect(budget.verdict(for: target, now: t0 + 10) == .allowed(attempt: 2))
        budget.recordAction(target, now: t0 + 10)
        #expect(budget.verdict(for: target, now: t0 + 25) == .backingOff(until: t0 + 30))  // 20 s after the second
        let spent = budget.recordAction(target, now: t0 + 30)
        #expect(spent)
        #expect(budget.verdict(for: target, now: t0 + 3000) == .quarantined)
    }

    @Test mutating func quarantineEndsOnlyAfterAHealthyStreakOfHealthyReset() {
        for i in 0..<3 { budget.recordAction(target, now: t0 + Double(i * 100)) }
        #expect(budget.isQuarantined(target))
        let early = budget.recordHealthy(target, now: t0 + 1000)
        #expect(!early)
        budget.recordUnhealthy(target)  // streak broken
        let restarted = budget.recordHealthy(target, now: t0 + 1500)
        let notYet = budget.recordHealthy(target, now: t0 + 2000)
        #expect(!restarted && !notYet)
        #expect(budget.verdict(for: target, now: t0 + 2000) == .quarantined)
        let released = budget.recordHealthy(target, now: t0 + 2100)  // 600 s since 1500
        #expect(released)
        #expect(budget.verdict(for: target, now: t0 + 2100) == .allowed(attempt: 1))
    }

    @Test mutating func backoffIsCappedAndOtherTargetsAreIndependent() {
        var wide = RestartBudget(limits: .init(backoffInitial: 10, backoffMax: 30, healthyReset: 600, maxAttempts: 10, attemptWindow: 1800))
        for i in 0..<4 { wide.recordAction(target, now: t0 + Double(i)) }
        #expect(wide.verdict(for: target, now: t0 + 4) == .backingOff(until: t0 + 33))
        #expect(wide.verdict(for: TargetKey(host: "cmp1", container: "nova_compute"), now: t0) == .allowed(attempt: 1))
    }
}
