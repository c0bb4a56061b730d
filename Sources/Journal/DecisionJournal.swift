import AutoHealCore
import Foundation
import GRDB

/// What the engine decided about a target, as the journal and `autoheal history` name it.
public enum JournalDecision: String, Sendable, Codable, CaseIterable, DatabaseValueConvertible {
    /// An action was taken (its result says how it went).
    case act
    /// Not yet: health `starting`, inside `grace_after_start`, or a job holds the domain.
    case wait
    /// Left to a person on purpose (stopped cleanly, a user-paused domain, orphans kept).
    case leftAlone = "left_alone"
    case backingOff = "backing_off"
    case quarantined
    /// A rolling action did not help: the service is held on every host.
    case held
    /// A maintenance pause or an exclusion stopped the action.
    case paused
    case dryRun = "dry_run"
    /// Waited for a rolling slot, then found nothing left to do.
    case notNeeded = "not_needed"
    /// An operator's `autoheal release`.
    case released
    /// Healthy for `healthy_reset` after a quarantine.
    case recovered
    /// Something a handler found that an action may fix (an orphaned allocation).
    case found
    /// What an action changed (an allocation deleted or created, a domain's new state).
    case changed
}

/// One decision of the engine about one target, as the journal keeps it.
public struct JournalEntry: Sendable, Equatable, Codable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "decision"
    /// GRDB's own text for a `Date`, written by ``DecisionJournal/databaseTime(_:)``: GRDB's
    /// `DateFormatter` would load ICU's data (about 4 MB of RSS) into the engine.
    public static func databaseDateEncodingStrategy(for column: String) -> DatabaseDateEncodingStrategy {
        .custom { DecisionJournal.databaseTime($0) }
    }

    public var id: Int64?
    public var time: Date
    public var host: String
    /// A container name, `domain:<uuid>` for a libvirt domain, `consumer:<uuid>` for a
    /// Placement consumer, or a placement step (`delete_orphans`, `heal_allocations`).
    public var target: String
    public var seen: String
    public var decision: JournalDecision
    public var reason: String
    /// The action taken or that would have been taken (restart, start, unpause, resume…), or "".
    public var action: String
    /// ok, failed, or "" when nothing was done.
    public var result: String
    /// Seconds the action took, when one was taken.
    public var duration: Double?

    public init(
        time: Date = Date(), host: String, target: String, seen: String, decision: JournalDecision, reason: String, action: String = "",
        result: String = "", duration: Double? = nil
    ) {
        self.time = time
        self.host = host
        self.target = target
        self.seen = seen
        self.decision = decision
        self.reason = reason
        self.action = action
        self.result = result
        self.duration = duration
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// The engine's journal in SQLite (`state_dir/journal.sqlite`): every decision that was not
/// "nothing to do", and the restart budget of every target, so budgets and quarantines
/// survive an engine restart. `autoheal history` and `autoheal status` read it.
public final class DecisionJournal: Sendable {
    private let db: DatabaseQueue
    public let path: String
    // Retention: the engine's JournalPruner calls prune(olderThan:) at start and hourly
    // (`[engine] journal_days`); opening the journal (the CLI does) deletes nothing.

    /// A journal that lives in memory only, for tests of the policy.
    public static func inMemory() throws -> DecisionJournal { try DecisionJournal(path: nil) }

    public convenience init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try self.init(path: (directory as NSString).appendingPathComponent("journal.sqlite"))
    }

    private init(path file: String?) throws {
        path = file ?? ":memory:"
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        // WAL with synchronous=NORMAL: a commit survives the engine being killed (only a power
        // loss may take the last ones), readers (`autoheal history`) never block the engine, and
        // a write costs no fsync — the engine records every request it handles.
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        db = try file.map { try DatabaseQueue(path: $0, configuration: configuration) } ?? DatabaseQueue(configuration: configuration)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "decision") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("time", .datetime).notNull().indexed()
                t.column("host", .text).notNull()
                t.column("target", .text).notNull()
                t.column("seen", .text).notNull()
                t.column("decision", .text).notNull()
                t.column("reason", .text).notNull()
                t.column("action", .text).notNull()
                t.column("result", .text).notNull()
                t.column("duration", .double)
            }
            try db.create(table: "budget") { t in
                t.column("host", .text).notNull()
                t.column("target", .text).notNull()
                t.column("actions", .text).notNull()  // JSON array of epoch seconds
                t.column("quarantined", .boolean).notNull()
                t.column("healthySince", .double)
                t.primaryKey(["host", "target"])
            }
        }
        migrator.registerMigration("v2-runs") { db in
            try db.create(table: "run") { t in
                t.column("payload", .text).notNull()
                t.column("scope", .text).notNull()
                t.column("time", .datetime).notNull()
                t.column("outcome", .text).notNull()
                t.column("duration", .double).notNull()
                t.primaryKey(["payload", "scope"])
            }
        }
        migrator.registerMigration("v3-budget-stamps") { db in
            // Which change of the target's budget a row is (see BudgetEntry): shared state merges by it.
            try db.alter(table: "budget") { t in
                t.add(column: "version", .integer).notNull().defaults(to: 0)
                t.add(column: "writer", .text).notNull().defaults(to: "")
                t.add(column: "basis", .integer).notNull().defaults(to: -1)
            }
        }
        migrator.registerMigration("v4-requests") { db in
            // Every request the engine handled to the end, by id: a redelivered request (its
            // ack lost with a broker node) is recognised even after the engine restarted.
            try db.create(table: "request") { t in
                t.column("id", .text).notNull().indexed()
                t.column("time", .datetime).notNull()
                t.column("payload", .text).notNull()
                t.column("scope", .text).notNull()
                t.column("target", .text)
                t.column("redelivered", .boolean).notNull()
                t.column("outcome", .text).notNull()
                t.column("duration", .double).notNull()
            }
        }
        try migrator.migrate(db)
    }

    /// Deletes the decisions and handled requests from before `cutoff`; returns how many.
    @discardableResult
    public func prune(olderThan cutoff: Date) async throws -> Int {
        try await db.write { db in
            let time = Self.databaseTime(cutoff)
            let decisions = try JournalEntry.filter(Column("time") < time).deleteAll(db)
            try db.execute(sql: "DELETE FROM request WHERE time < ?", arguments: [time])
            return decisions + db.changesCount
        }
    }

    /// Records that a request was handled to the end (before it is acked), and the last run
    /// of its payload and scope. Returns once committed. Requests handled at the same time
    /// share one transaction (group commit): a busy engine writes one transaction per batch of
    /// finished handlers, not one per request.
    public func recordHandled(
        id: String, payload: String, scope: String, target: String?, redelivered: Bool, outcome: String, duration: Double,
        time: Date = Date()
    ) async throws {
        let row = HandledRequest(
            id: id, time: time, payload: payload, scope: scope, target: target, redelivered: redelivered, outcome: outcome,
            duration: duration)
        let failure: (any Error)? = await withCheckedContinuation { continuation in
            let first = pendingRequests.withLock { pending -> Bool in
                pending.rows.append(row)
                pending.waiters.append(continuation)
                defer { pending.writing = true }
                return !pending.writing
            }
            if first { Task { await self.writePendingRequests() } }
        }
        if let failure { throw failure }
    }

    private struct HandledRequest: Sendable {
        var id: String
        var time: Date
        var payload: String
        var scope: String
        var target: String?
        var redelivered: Bool
        var outcome: String
        var duration: Double
    }

    private let pendingRequests = Locked<
        (rows: [HandledRequest], waiters: [CheckedContinuation<(any Error)?, Never>], writing: Bool)
    >(([], [], false))

    /// Writes what has queued up, in one transaction, until nothing is left.
    private func writePendingRequests() async {
        while true {
            let (rows, waiters) = pendingRequests.withLock { pending in
                if pending.rows.isEmpty { pending.writing = false }
                defer { (pending.rows, pending.waiters) = ([], []) }
                return (pending.rows, pending.waiters)
            }
            guard !rows.isEmpty else { return }
            var failure: (any Error)? = nil
            do {
                try await db.write { db in
                    // Cached statements (parsed once), times formatted here (GRDB's own Date
                    // conversion goes through an ICU DateFormatter), and one `run` row per
                    // payload and scope per batch: the last one wins anyway.
                    let insert = try db.cachedStatement(
                        sql: """
                            INSERT INTO request (id, time, payload, scope, target, redelivered, outcome, duration)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                            """)
                    var lastRun: [String: HandledRequest] = [:]
                    for row in rows {
                        try insert.execute(arguments: [
                            row.id, Self.databaseTime(row.time), row.payload, row.scope, row.target, row.redelivered, row.outcome,
                            row.duration,
                        ])
                        // The latest run of each payload and scope, whatever order the batch has.
                        let key = row.payload + "\u{0}" + row.scope
                        if lastRun[key].map({ $0.time <= row.time }) ?? true { lastRun[key] = row }
                    }
                    for row in lastRun.values {
                        try Self.upsertRun(
                            db, payload: row.payload, scope: row.scope, outcome: row.outcome, duration: row.duration, time: row.time)
                    }
                }
            } catch {
                failure = error
            }
            for waiter in waiters { waiter.resume(returning: failure) }
        }
    }

    /// A time as GRDB stores a `Date` ("yyyy-MM-dd HH:mm:ss.SSS", UTC), so rows written
    /// either way read back and compare the same. Every time the journal writes or compares
    /// goes through here, never through GRDB's `DateFormatter` (ICU).
    /// Its milliseconds are those of GRDB's formatter: since 1970, rounded to the nearest
    /// (rounded down until 2026-12-02, one millisecond off GRDB for half of all times:
    /// `JournalTimeTests` compares the two).
    public static func databaseTime(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        return WireTime.text(
            secondsSince1970: seconds, milliseconds: Int(milliseconds - seconds * 1000), separator: " ", suffix: "")
    }

    private static func upsertRun(
        _ db: Database, payload: String, scope: String, outcome: String, duration: Double, time: Date
    ) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO run (payload, scope, time, outcome, duration) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(payload, scope) DO UPDATE SET time = excluded.time, outcome = excluded.outcome, duration = excluded.duration
                WHERE excluded.time >= run.time
                """
        ).execute(arguments: [payload, scope, databaseTime(time), outcome, duration])
    }

    /// Whether a request with this id was handled to the end.
    public func wasHandled(id: String) async throws -> Bool {
        try await db.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM request WHERE id = ?)", arguments: [id]) ?? false
        }
    }

    /// How many times each request id was handled (each should be once).
    public func handledRequests() throws -> [String: Int] {
        try db.read { db in
            var counts: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, COUNT(*) AS n FROM request GROUP BY id") { counts[row["id"]] = row["n"] }
            return counts
        }
    }

    /// How many decisions the journal holds.
    public func count() async throws -> Int {
        try await db.read { db in try JournalEntry.fetchCount(db) }
    }

    public func record(_ entry: JournalEntry) async throws {
        try await db.write { db in
            try entry.insert(db)
        }
    }

    /// Decisions, newest last, filtered by host, target and time.
    public func history(host: String? = nil, target: String? = nil, since: Date? = nil, limit: Int = 1000) throws -> [JournalEntry] {
        try db.read { db in
            var request = JournalEntry.all()
            if let host { request = request.filter(Column("host") == host) }
            if let target { request = request.filter(Column("target") == target) }
            if let since { request = request.filter(Column("time") >= Self.databaseTime(since)) }
            let newest = try request.order(Column("time").desc, Column("id").desc).limit(limit).fetchAll(db)
            return newest.reversed()
        }
    }

    /// The last run of each payload and scope.
    public func lastRuns() throws -> [(payload: String, scope: String, time: Date, outcome: String, duration: Double)] {
        try db.read { db in
            try Row.fetchAll(db, sql: "SELECT payload, scope, time, outcome, duration FROM run ORDER BY payload, scope").map {
                ($0["payload"], $0["scope"], $0["time"], $0["outcome"], $0["duration"])
            }
        }
    }

    /// Saves a target's budget as the shared state holds it (an entry without actions or
    /// quarantine forgets the target but keeps its version).
    public func saveBudget(_ entry: BudgetEntry) async throws {
        let actions = String(decoding: try JSONEncoder().encode(entry.actions), as: UTF8.self)
        try await db.write { db in
            try db.execute(
                sql: """
                    INSERT INTO budget (host, target, actions, quarantined, healthySince, version, writer, basis)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(host, target) DO UPDATE SET actions = excluded.actions, quarantined = excluded.quarantined,
                    healthySince = excluded.healthySince, version = excluded.version, writer = excluded.writer,
                    basis = excluded.basis
                    """,
                arguments: [
                    entry.host, entry.target, actions, entry.quarantined, entry.healthySince, entry.version, entry.by, entry.basis,
                ])
        }
    }

    /// Every saved budget, as entries to restore into the shared state.
    public func budgets() throws -> [BudgetEntry] {
        try db.read { db in
            try Row.fetchAll(
                db, sql: "SELECT host, target, actions, quarantined, healthySince, version, writer, basis FROM budget ORDER BY host, target"
            ).map { row in
                let times = (try? JSONDecoder().decode([Double].self, from: Data((row["actions"] as String).utf8))) ?? []
                let healthy: Double? = row["healthySince"]
                let record = RestartBudget.Record(
                    actions: times.map(Date.init(timeIntervalSince1970:)), quarantined: row["quarantined"],
                    healthySince: healthy.map(Date.init(timeIntervalSince1970:)))
                return BudgetEntry(
                    key: TargetKey(host: row["host"], container: row["target"]), record: record,
                    stamp: BudgetStamp(version: row["version"], by: row["writer"], basis: row["basis"]), at: Date())
            }
        }
    }
}
