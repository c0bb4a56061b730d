import AutoHealTestSupport
import Engine
import Foundation
import Journal
import Logging
import ServiceLifecycle
import Testing

/// The journal keeps `[engine] journal_days` while the engine runs, not only when it starts.
@Suite("Journal retention")
struct JournalPrunerTests {
    @Test func oldDecisionsArePrunedWhileRunning() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autoheal-prune-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try DecisionJournal(directory: directory)
        func entry(daysAgo: Double) -> JournalEntry {
            JournalEntry(
                time: Date().addingTimeInterval(-daysAgo * 86_400), host: "h", target: "nova_api", seen: "exited(1)", decision: .act,
                reason: "test")
        }
        try await journal.record(entry(daysAgo: 0))
        try await journal.record(entry(daysAgo: 8))
        let pruner = JournalPruner(journal: journal, keepDays: 7, every: .milliseconds(100), logger: Logger(label: "test.prune"))
        let group = ServiceGroup(services: [pruner], logger: Logger(label: "test.prune"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await waitUntil("the 8-day-old decision to be pruned at start") { try await journal.count() == 1 }
            // A decision that ages past the limit while the engine runs goes at the next round.
            try await journal.record(entry(daysAgo: 7.01))
            try await journal.record(entry(daysAgo: 6.9))
            try await waitUntil("the decision past 7 days to be pruned while running") { try await journal.count() == 2 }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(try journal.history().map { $0.time > Date().addingTimeInterval(-7 * 86_400) } == [true, true])
    }
}
