import AutoHealCore
import AutoHealTestSupport
import Foundation
import Testing

@testable import Journal

/// The journal's file: one written by GRDB (the journal's storage until 2026-12-03) opens as it
/// is, and what is in it reads back; values it did not write are clear errors.
@Suite("Journal file")
struct JournalFileTests {
    /// A journal written by the GRDB version of `DecisionJournal` (all four schema steps): three
    /// decisions, two budgets, two handled requests.
    static let fixture =
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/journal-grdb-v4.sqlite").path

    static func copyOfFixture() throws -> String {
        let directory = try TestEnvironment.temporaryDirectory("journal-file").path
        try FileManager.default.copyItem(atPath: fixture, toPath: directory + "/journal.sqlite")
        return directory
    }

    @Test func aJournalWrittenThroughGRDBOpensAndReadsBack() async throws {
        let directory = try Self.copyOfFixture()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let t0 = Date(timeIntervalSince1970: 1_764_720_000.25)
        for round in 0..<2 {
            // Opened twice: the schema steps already applied are not run again.
            let journal = try DecisionJournal(directory: directory)
            let history = try journal.history()
            #expect(history.count == 3 + round)
            #expect(history[0].id == 1)
            #expect(
                history[0]
                    == {
                        var entry = JournalEntry(
                            time: t0, host: "ctl-1:2375", target: "nova_api", seen: "exited(137)/unhealthy", decision: .act,
                            reason: "exited with code 137", action: "start", result: "ok", duration: 0.25)
                        entry.id = 1
                        return entry
                    }())
            #expect(history[1].decision == .quarantined && history[1].duration == nil && history[1].action == "")
            #expect(history[2].decision == .dryRun && history[2].time == t0.addingTimeInterval(120))
            #expect(try journal.history(target: "nova_api", since: t0.addingTimeInterval(30)).map(\.id) == [2])

            let budgets = try journal.budgets()
            #expect(budgets.count == 2)
            #expect(budgets[0].key == TargetKey(host: "ctl-1:2375", container: "nova_api"))
            #expect(budgets[0].actions == [1_764_720_000.25, 1_764_720_030.25] && budgets[0].quarantined)
            #expect(budgets[0].stamp == BudgetStamp(version: 7, by: "engine-a", basis: 3) && budgets[0].healthySince == nil)
            #expect(budgets[1].healthySince == 1_764_720_005.25 && !budgets[1].quarantined && budgets[1].basis == -1)

            let runs = try journal.lastRuns()
            #expect(runs.map(\.payload) == ["allocation_heal", "container_auto_heal"])
            #expect(runs[1].time == t0 && runs[1].outcome == "acted" && runs[1].duration == 0.3)
            #expect(try await journal.wasHandled(id: "req-2"))
            #expect(try await !journal.wasHandled(id: "req-3"))
            #expect(try journal.handledRequests() == ["req-1": 1, "req-2": 1])
            if round == 0 {
                try await journal.record(
                    JournalEntry(time: t0.addingTimeInterval(600), host: "h", target: "t", seen: "s", decision: .recovered, reason: "r"))
            }
        }
    }

    @Test func aValueTheJournalDidNotWriteIsAnErrorNamingIt() async throws {
        let directory = try Self.copyOfFixture()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let raw = try SQLiteConnection(path: directory + "/journal.sqlite")
        try raw.sync { db in try db.execute("UPDATE decision SET decision = 'teleported' WHERE id = 2") }
        let journal = try DecisionJournal(directory: directory)
        let error = #expect(throws: SQLiteError.self) { try journal.history() }
        #expect(error?.description.contains("unknown decision \"teleported\"") == true)
        #expect(error?.description.contains(directory) == true)
        try raw.sync { db in try db.execute("UPDATE decision SET decision = 'act', time = 'yesterday' WHERE id = 2") }
        let timeError = #expect(throws: SQLiteError.self) { try journal.history() }
        #expect(timeError?.description.contains("column time") == true)
    }

    @Test func aFileThatIsNotADatabaseIsAClearError() throws {
        let directory = try TestEnvironment.temporaryDirectory("journal-file").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "not a database\n".write(toFile: directory + "/journal.sqlite", atomically: true, encoding: .utf8)
        let error = #expect(throws: SQLiteError.self) { try DecisionJournal(directory: directory) }
        #expect(error?.description.contains(directory + "/journal.sqlite") == true)
        #expect(error?.description.contains("not a database") == true)
    }
}
