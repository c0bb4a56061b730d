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
        (ContainerObservation(status: "exited", exitCode: 0), .start),
        (ContainerObservation(status: "dead"), .start),
        (ContainerObservation(status: "created"), .start),
        (ContainerObservation(status: "restarting"), .wait),
        (ContainerObservation(status: "removing"), .wait),
        (ContainerObservation(status: "sideways"), .none),
    ])
    func decision(seen: ContainerObservation, expected: ReviveDecision.Action) {
        #expect(ReviveDecision.decide(seen).action == expected)
    }

    @Test func summaryShowsWhatLogLinesNeed() {
        #expect(ContainerObservation(status: "running", health: "unhealthy").summary == "running/unhealthy")
        #expect(ContainerObservation(status: "exited", exitCode: 137, oomKilled: true).summary == "exited(137,oom)")
        #expect(ContainerObservation(status: "paused").summary == "paused")
    }

    @Test func attemptsAreCountedPerTargetAndForgivenWhenHealthy() {
        var tracker = AttemptTracker(limit: 3)
        let api = TargetKey(host: "ctl1", container: "nova_api")
        let cinder = TargetKey(host: "ctl1", container: "cinder_api")
        let api2 = TargetKey(host: "ctl2", container: "nova_api")
        for expected in 1...3 { #expect(tracker.recordAttempt(api) == expected) }
        #expect(tracker.isExhausted(api))
        #expect(!tracker.isExhausted(cinder))
        #expect(!tracker.isExhausted(api2))
        #expect(tracker.recordHealthy(api) == 3)
        #expect(!tracker.isExhausted(api))
        #expect(tracker.attempts(for: api) == 0)
    }
}
