import AutoHealCore
import AutoHealTestSupport
import Foundation
import Policy
import Testing

/// Keeps what an executor leaves on the broker.
final class RecordingStatePublisher: StatePublisher {
    private let messages = Locked<[SharedStateMessage]>([])
    func publish(_ message: SharedStateMessage) async throws { messages.withLock { $0.append(message) } }
    var all: [SharedStateMessage] { messages.withLock { $0 } }
}

@Suite("Checkpoints of the shared state")
struct CheckpointTests {
    @Test func anEngineWritesACheckpointAfterEnoughMessagesAndAnotherEngineStartsFromIt() async throws {
        let config = try AutoHealConfig.parse("[hosts]\ncontrol_hosts = 10.0.0.11\n", path: "c.conf")
        let publisher = RecordingStatePublisher()
        let executor = PolicyExecutor(
            config: config, runtimes: FakeRuntimes([]), identity: "a", publisher: publisher, checkpointEvery: 5,
            logger: LogCapture().logger("test"))
        let api = TargetKey(host: "10.0.0.11", container: "nova_api")
        let messages: [SharedStateMessage] = [
            .pause(PauseNotice(paused: true, until: nil, reason: "deploy", by: "op")),
            .pause(PauseNotice(paused: true, until: nil, reason: "", by: "op", target: api)),
            .budget(
                BudgetEntry(
                    key: api, record: .init(actions: [Date()], quarantined: true), stamp: .init(version: 3, by: "b", basis: 1), at: Date())),
            .sync(id: "x"),
            .pause(PauseNotice(paused: false, until: nil, reason: "", by: "op", target: api)),
        ]
        for (offset, message) in messages.enumerated() { await executor.apply(message.encoded(), offset: Int64(offset)) }
        guard case .checkpoint(let checkpoint)? = publisher.all.last else {
            Issue.record("no checkpoint after 5 messages: \(publisher.all)")
            return
        }
        #expect(checkpoint.offset == 4)
        #expect(checkpoint.pauses.map(\.notice.reason) == ["deploy"])  // the exclusion was ended
        #expect(checkpoint.budgets.map(\.key) == [api] && checkpoint.budgets[0].quarantined)

        var fresh = SharedState(identity: "c", limits: RestartBudget.Limits(config.policy))
        _ = fresh.apply(SharedStateMessage.checkpoint(checkpoint).encoded(), offset: 100, now: Date())
        #expect(fresh.pauseReason(for: [], now: Date())?.contains("deploy") == true)
        #expect(fresh.budget.isQuarantined(api))
    }
}
