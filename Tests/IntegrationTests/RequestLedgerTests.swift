import AutoHealCore
import AutoHealTestSupport
import Testing

@testable import Engine

/// The engine's memory of requests, alone (the engine with it: EngineTests).
@Suite("Request ledger")
struct RequestLedgerTests {
    let target = TargetKey(host: "h", container: "nova_api")

    /// Admits `request` (it runs), then starts a second copy of it; returns once that waits.
    func secondCopyWaiting(_ ledger: RequestLedger, _ request: Envelope) async throws -> Task<RequestLedger.Verdict, Never> {
        #expect(await ledger.admit(request, receivedAt: .now) == .run)
        let second = Task { await ledger.admit(request, receivedAt: .now) }
        try await waitUntil("the second copy to wait") { ledger.waiting == 1 }
        return second
    }

    @Test func aHandledRequestIsADuplicateAndAnotherRuns() async {
        let ledger = RequestLedger()
        let request = Envelope(payload: .containerAutoHeal, scope: .control, target: target)
        #expect(await ledger.admit(request, receivedAt: .now) == .run)
        ledger.markHandled(request)
        #expect(await ledger.admit(request, receivedAt: .now) == .duplicate)
        let other = Envelope(payload: .containerAutoHeal, scope: .control, target: target)
        #expect(await ledger.admit(other, receivedAt: .now) == .run)
    }

    /// The CI failure of `DeliveryFaultTests` at `408d691`: after a broker restart the broker
    /// held the first copy and the publisher sent a second; both arrived together and both ran.
    @Test func aSecondCopyWaitsForTheFirstAndIsADuplicateOnceItWasHandled() async throws {
        let ledger = RequestLedger()
        let request = Envelope(payload: .containerAutoHeal, scope: .control, target: target)
        let second = try await secondCopyWaiting(ledger, request)
        ledger.markHandled(request)
        #expect(await second.value == .duplicate)
    }

    @Test(arguments: [false, true])
    func aSecondCopyRunsWhenTheFirstWasGivenUp(sweep: Bool) async throws {
        let ledger = RequestLedger()
        let request = Envelope(payload: .containerAutoHeal, scope: .control, target: sweep ? nil : target)
        let second = try await secondCopyWaiting(ledger, request)
        // Cut short (the engine torn down): not acked, so the copy must not be acked unrun. A
        // sweep cut short looked at nothing: it supersedes no other.
        ledger.giveUp(request)
        #expect(await second.value == .run)
        ledger.markHandled(request)
        #expect(await ledger.admit(request, receivedAt: .now) == .duplicate)
    }

    @Test func aWaitingCopyIsCancelledWithItsTask() async throws {
        let ledger = RequestLedger()
        let request = Envelope(payload: .allocationHeal, scope: .control, target: nil)
        let second = try await secondCopyWaiting(ledger, request)
        second.cancel()
        #expect(await second.value == .cancelled)
        #expect(ledger.waiting == 0)
    }

    @Test func sweepsCollapseButTargetedRequestsNever() async {
        let ledger = RequestLedger()
        let first = Envelope(payload: .containerAutoHeal, scope: .control)
        #expect(await ledger.admit(first, receivedAt: .now) == .run)
        // Another sweep of the same payload and scope while the first runs, and just after.
        #expect(await ledger.admit(Envelope(payload: .containerAutoHeal, scope: .control), receivedAt: .now) == .superseded)
        ledger.markHandled(first)
        #expect(await ledger.admit(Envelope(payload: .containerAutoHeal, scope: .control), receivedAt: .now) == .superseded)
        // Another scope, and targeted requests, run.
        #expect(await ledger.admit(Envelope(payload: .containerAutoHeal, scope: .compute), receivedAt: .now) == .run)
        for _ in 0..<3 {
            #expect(
                await ledger.admit(Envelope(payload: .containerAutoHeal, scope: .control, target: target), receivedAt: .now) == .run)
        }
    }
}
