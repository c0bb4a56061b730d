import AutoHealTestSupport
import Engine
import Foundation
import Journal
import Logging
import ServiceLifecycle
import Testing

/// The journal keeps `[engine] journal_days` while the engine runs, not only when it starts.
@Suite("Journal retention", .ownThreads)
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

    /// Handled requests are written in batches with their times formatted by the journal itself;
    /// they read back as the same instants (to the millisecond) and age out like decisions.
    @Test func handledRequestsKeepTheirTimesAndArePruned() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autoheal-requests-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try DecisionJournal(directory: directory)
        let now = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 * 1000).rounded(.down) / 1000)
        let times = [now.addingTimeInterval(-8 * 86_400 - 0.007), Date(timeIntervalSince1970: 1_700_000_000.05), now]
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, time) in times.enumerated() {
                group.addTask {
                    try await journal.recordHandled(
                        id: "r\(i)", payload: "container_auto_heal", scope: "control\(i % 2)", target: nil, redelivered: false,
                        outcome: "ok", duration: 0.5, time: time)
                }
            }
            try await group.waitForAll()
        }
        #expect(try journal.handledRequests() == ["r0": 1, "r1": 1, "r2": 1])
        let runs = try journal.lastRuns()
        #expect(runs.count == 2)
        #expect(runs.contains { $0.scope == "control0" && abs($0.time.timeIntervalSince(now)) < 0.0005 }, "\(runs)")
        #expect(runs.contains { $0.scope == "control1" && abs($0.time.timeIntervalSince1970 - 1_700_000_000.05) < 0.0005 }, "\(runs)")
        _ = try await journal.prune(olderThan: now.addingTimeInterval(-7 * 86_400))
        #expect(try journal.handledRequests().keys.sorted() == ["r2"])
    }
}
