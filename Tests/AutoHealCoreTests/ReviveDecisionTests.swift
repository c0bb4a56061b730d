import Foundation
import Testing

@testable import AutoHealCore

@Suite("Revive decision table")
struct ReviveDecisionTests {
    @Test(arguments: [
        (ContainerObservation(status: "running"), ReviveDecision.Action.none),
        (ContainerObservation(status: "running", health: "none"), .none),
        (ContainerObservation(status: "running", health: "healthy"), .none),
        (ContainerObservation(status: "running", health: "starting"), .wait),
        (ContainerObservation(status: "running", health: "unhealthy"), .restart),
        (ContainerObservation(status: "paused", health: "healthy"), .unpause),
        (ContainerObservation(status: "paused", health: "unhealthy"), .unpause),
        (ContainerObservation(status: "exited", exitCode: 137), .start),
        (ContainerObservation(status: "exited", health: "unhealthy", exitCode: 1), .start),
        (ContainerObservation(status: "exited", exitCode: 0), .none),  // stopped on purpose
        (ContainerObservation(status: "exited", exitCode: 143), .none),  // stopped with SIGTERM
        (ContainerObservation(status: "exited", exitCode: 143, oomKilled: true), .start),
        (ContainerObservation(status: "dead"), .start),
        (ContainerObservation(status: "created"), .start),
        (ContainerObservation(status: "restarting"), .wait),
        (ContainerObservation(status: "removing"), .wait),
        (ContainerObservation(status: "sideways"), .none),
    ])
    func decision(seen: ContainerObservation, expected: ReviveDecision.Action) {
        #expect(ReviveDecision.decide(seen).action == expected)
    }

    @Test func cleanStopsAreRevivedOnlyWithReviveStopped() {
        let stopped = ContainerObservation(status: "exited", exitCode: 0)
        #expect(ReviveDecision.decide(stopped, rules: .init(reviveStopped: true)).action == .start)
    }

    @Test func unhealthyWithinGraceAfterStartWaits() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let young = ContainerObservation(status: "running", health: "unhealthy", startedAt: now.addingTimeInterval(-30))
        let old = ContainerObservation(status: "running", health: "unhealthy", startedAt: now.addingTimeInterval(-90))
        let rules = ReviveDecision.Rules(graceAfterStart: 60)
        #expect(ReviveDecision.decide(young, rules: rules, now: now).action == .wait)
        #expect(ReviveDecision.decide(old, rules: rules, now: now).action == .restart)
    }

    @Test func dockerTimesAreRead() {
        #expect(ContainerObservation.parseDockerTime("2026-11-22T05:00:20.229114293Z") == Date(timeIntervalSince1970: 1_795_323_620))
        #expect(ContainerObservation.parseDockerTime("0001-01-01T00:00:00Z") == nil)
        #expect(ContainerObservation.parseDockerTime("garbage") == nil)
    }

    @Test func summaryShowsWhatLogLinesNeed() {
        #expect(ContainerObservation(status: "running", health: "unhealthy").summary == "running/unhealthy")
        #expect(ContainerObservation(status: "exited", exitCode: 137, oomKilled: true).summary == "exited(137,oom)")
        #expect(ContainerObservation(status: "paused").summary == "paused")
    }

    @Test func attemptsAreCountedPerTargetAndForgivenWhenHealthy() {
        // The restart budget (which replaced the simple attempt counter) keeps the same contract.
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        var budget = RestartBudget(limits: .init(backoffInitial: 0, backoffMax: 0, healthyReset: 0, maxAttempts: 3, attemptWindow: 1800))
        let api = TargetKey(host: "ctl1", container: "nova_api")
        let cinder = TargetKey(host: "ctl1", container: "cinder_api")
        let api2 = TargetKey(host: "ctl2", container: "nova_api")
        for expected in 1...3 {
            #expect(budget.verdict(for: api, now: t0) == .allowed(attempt: expected))
            budget.recordAction(api, now: t0)
        }
        #expect(budget.isQuarantined(api))
        #expect(!budget.isQuarantined(cinder))
        #expect(!budget.isQuarantined(api2))
        let forgiven = budget.recordHealthy(api, now: t0)
        #expect(forgiven)
        #expect(!budget.isQuarantined(api))
        #expect(budget.record(for: api) == nil)
    }
}
