import AutoHealCore
import FoundationEssentials

/// What the engine decided about a target, as the journal and `autoheal history` name it.
public enum JournalDecision: String, Sendable, Codable, CaseIterable {
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
public struct JournalEntry: Sendable, Equatable, Codable {
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
}

/// The engine's journal in SQLite (`state_dir/journal.sqlite`): every decision that was not
/// "nothing to do", and the restart budget of every target, so budgets and quarantines
/// survive an engine restart. `autoheal history` and `autoheal status` read it.
public final class DecisionJournal: Sendable {
    private let db: SQLiteConnection
    public let path: String
    // Retention: the engine's JournalPruner calls prune(olderThan:) at start and hourly
    // (`[engine] journal_days`); opening the journal (the CLI does) deletes nothing.

    /// A journal that lives in memory only, for tests of the policy.
    public static func inMemory() throws -> DecisionJournal { try DecisionJournal(path: nil) }

    public convenience init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try self.init(path: directory.pathAppending("journal.sqlite"))
    }

    /// The schema, one step per change, each applied once and in order. Steps are named in
    /// `grdb_migrations`, the table GRDB kept them in (the journal was written through GRDB
    /// until 2026-12-03): a journal from then opens as it is, and its steps are not run again.
    static let migrations: [(name: String, sql: String)] = [
        (
            "v1",
            """
            CREATE TABLE "decision" ("id" INTEGER PRIMARY KEY AUTOINCREMENT, "time" DATETIME NOT NULL, "host" TEXT NOT NULL,
              "target" TEXT NOT NULL, "seen" TEXT NOT NULL, "decision" TEXT NOT NULL, "reason" TEXT NOT NULL,
              "action" TEXT NOT NULL, "result" TEXT NOT NULL, "duration" DOUBLE);
            CREATE INDEX "decision_on_time" ON "decision"("time");
            CREATE TABLE "budget" ("host" TEXT NOT NULL, "target" TEXT NOT NULL,
              "actions" TEXT NOT NULL, -- JSON array of epoch seconds
              "quarantined" BOOLEAN NOT NULL, "healthySince" DOUBLE, PRIMARY KEY ("host", "target"));
            """
        ),
        (
            "v2-runs",
            """
            CREATE TABLE "run" ("payload" TEXT NOT NULL, "scope" TEXT NOT NULL, "time" DATETIME NOT NULL,
              "outcome" TEXT NOT NULL, "duration" DOUBLE NOT NULL, PRIMARY KEY ("payload", "scope"));
            """
        ),
        (
            // Which change of the target's budget a row is (see BudgetEntry): shared state merges by it.
            "v3-budget-stamps",
            """
            ALTER TABLE "budget" ADD COLUMN "version" INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE "budget" ADD COLUMN "writer" TEXT NOT NULL DEFAULT '';
            ALTER TABLE "budget" ADD COLUMN "basis" INTEGER NOT NULL DEFAULT -1;
            """
        ),
        (
            // Every request the engine handled to the end, by id: a redelivered request (its
            // ack lost with a broker node) is recognised even after the engine restarted.
            "v4-requests",
            """
            CREATE TABLE "request" ("id" TEXT NOT NULL, "time" DATETIME NOT NULL, "payload" TEXT NOT NULL,
              "scope" TEXT NOT NULL, "target" TEXT, "redelivered" BOOLEAN NOT NULL, "outcome" TEXT NOT NULL,
              "duration" DOUBLE NOT NULL);
            CREATE INDEX "request_on_id" ON "request"("id");
            """
        ),
    ]

    private init(path file: String?) throws {
        path = file ?? ":memory:"
        db = try SQLiteConnection(path: path)
        try db.sync { db in
            // WAL with synchronous=NORMAL: a commit survives the engine being killed (only a power
            // loss may take the last ones), readers (`autoheal history`) never block the engine, and
            // a write costs no fsync — the engine records every request it handles.
            _ = try db.rows("PRAGMA journal_mode = WAL")
            try db.execute(script: "PRAGMA synchronous = NORMAL")
            try db.execute(script: "CREATE TABLE IF NOT EXISTS grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
            try db.transaction {
                let applied = Set(try db.rows("SELECT identifier FROM grdb_migrations").map { try $0.text("identifier") })
                for migration in Self.migrations where !applied.contains(migration.name) {
                    try db.execute(script: migration.sql)
                    try db.execute("INSERT INTO grdb_migrations (identifier) VALUES (?)", [migration.name])
                }
            }
        }
    }

    /// Deletes the decisions and handled requests from before `cutoff`; returns how many.
    @discardableResult
    public func prune(olderThan cutoff: Date) async throws -> Int {
        let time = Self.databaseTime(cutoff)
        return try await db.async { db in
            try db.transaction {
                try db.execute("DELETE FROM decision WHERE time < ?", [time])
                    + db.execute("DELETE FROM request WHERE time < ?", [time])
            }
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
                try await db.async { db in
                    try db.transaction {
                        try Self.write(rows, db)
                    }
                }
            } catch {
                failure = error
            }
            for waiter in waiters { waiter.resume(returning: failure) }
        }
    }

    /// One batch of handled requests, and one `run` row per payload and scope in it (the last
    /// one wins anyway). Statements are prepared once and kept.
    private static func write(_ rows: [HandledRequest], _ db: SQLiteConnection.Access) throws {
        var lastRun: [String: HandledRequest] = [:]
        for row in rows {
            try db.execute(
                """
                INSERT INTO request (id, time, payload, scope, target, redelivered, outcome, duration)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    row.id, Self.databaseTime(row.time), row.payload, row.scope, row.target, row.redelivered,
                    row.outcome, row.duration,
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

    /// A time as the journal stores it ("yyyy-MM-dd HH:mm:ss.SSS", UTC), the text GRDB wrote
    /// for a `Date` when the journal went through GRDB, so rows written before and after read
    /// back and compare the same. Every time the journal writes or compares goes through here.
    /// Milliseconds since 1970, rounded to the nearest, as GRDB's formatter rounded them.
    public static func databaseTime(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        return WireTime.text(
            secondsSince1970: seconds, milliseconds: Int(milliseconds - seconds * 1000), separator: " ", suffix: "")
    }

    /// Reads a time ``databaseTime(_:)`` wrote; nil for anything else.
    public static func time(fromDatabase text: String) -> Date? {
        guard text.utf8.count == 23, text.utf8.dropFirst(10).first == UInt8(ascii: " ") else { return nil }
        return WireTime.parse(text.replacing(" ", with: "T") + "Z")
    }

    private static func upsertRun(
        _ db: SQLiteConnection.Access, payload: String, scope: String, outcome: String, duration: Double, time: Date
    ) throws {
        try db.execute(
            """
            INSERT INTO run (payload, scope, time, outcome, duration) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT(payload, scope) DO UPDATE SET time = excluded.time, outcome = excluded.outcome, duration = excluded.duration
            WHERE excluded.time >= run.time
            """, [payload, scope, databaseTime(time), outcome, duration])
    }

    /// A time column read back; an error that names the column and the text otherwise.
    private static func time(_ row: SQLiteRow, _ column: String) throws(SQLiteError) -> Date {
        try row.value(column) { $0.text.flatMap { time(fromDatabase: $0) } }
    }

    /// Whether a request with this id was handled to the end.
    public func wasHandled(id: String) async throws -> Bool {
        try await db.async { db in
            try db.rows("SELECT EXISTS (SELECT 1 FROM request WHERE id = ?) AS found", [id]).first?.integer("found") == 1
        }
    }

    /// How many times each request id was handled (each should be once).
    public func handledRequests() throws -> [String: Int] {
        try db.sync { db in
            var counts: [String: Int] = [:]
            for row in try db.rows("SELECT id, COUNT(*) AS n FROM request GROUP BY id") {
                counts[try row.text("id")] = Int(try row.integer("n"))
            }
            return counts
        }
    }

    /// How many decisions the journal holds.
    public func count() async throws -> Int {
        try await db.async { db in Int(try db.rows("SELECT COUNT(*) AS n FROM decision").first?.integer("n") ?? 0) }
    }

    public func record(_ entry: JournalEntry) async throws {
        try await db.async { db in
            try db.execute(
                """
                INSERT INTO decision (time, host, target, seen, decision, reason, action, result, duration)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    Self.databaseTime(entry.time), entry.host, entry.target, entry.seen, entry.decision.rawValue, entry.reason,
                    entry.action, entry.result, entry.duration,
                ])
        }
    }

    /// Decisions, newest last, filtered by host, target and time.
    public func history(host: String? = nil, target: String? = nil, since: Date? = nil, limit: Int = 1000) throws -> [JournalEntry] {
        var conditions: [String] = []
        var arguments: [any SQLiteBindable] = []
        if let host { (conditions, arguments) = (conditions + ["host = ?"], arguments + [host]) }
        if let target { (conditions, arguments) = (conditions + ["target = ?"], arguments + [target]) }
        if let since { (conditions, arguments) = (conditions + ["time >= ?"], arguments + [Self.databaseTime(since)]) }
        let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        return try db.sync { db in
            let newest = try db.rows(
                "SELECT * FROM decision\(filter) ORDER BY time DESC, id DESC LIMIT ?", arguments + [max(limit, 0)])
            return try newest.reversed().map { row in
                guard let decision = JournalDecision(rawValue: try row.text("decision")) else {
                    throw SQLiteError.unexpected(
                        "decision \((try? row.integer("id")) ?? 0): unknown decision \"\(try row.text("decision"))\"", path: path)
                }
                var entry = JournalEntry(
                    time: try Self.time(row, "time"), host: try row.text("host"), target: try row.text("target"),
                    seen: try row.text("seen"), decision: decision, reason: try row.text("reason"), action: try row.text("action"),
                    result: try row.text("result"), duration: try row.optionalDouble("duration"))
                entry.id = try row.integer("id")
                return entry
            }
        }
    }

    /// The last run of each payload and scope.
    public func lastRuns() throws -> [(payload: String, scope: String, time: Date, outcome: String, duration: Double)] {
        try db.sync { db in
            try db.rows("SELECT payload, scope, time, outcome, duration FROM run ORDER BY payload, scope").map {
                (try $0.text("payload"), try $0.text("scope"), try Self.time($0, "time"), try $0.text("outcome"), try $0.double("duration"))
            }
        }
    }

    /// Saves a target's budget as the shared state holds it (an entry without actions or
    /// quarantine forgets the target but keeps its version).
    public func saveBudget(_ entry: BudgetEntry) async throws {
        let actions = String(decoding: try JSONEncoder().encode(entry.actions), as: UTF8.self)
        try await db.async { db in
            try db.execute(
                """
                INSERT INTO budget (host, target, actions, quarantined, healthySince, version, writer, basis)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(host, target) DO UPDATE SET actions = excluded.actions, quarantined = excluded.quarantined,
                healthySince = excluded.healthySince, version = excluded.version, writer = excluded.writer,
                basis = excluded.basis
                """,
                [entry.host, entry.target, actions, entry.quarantined, entry.healthySince, entry.version, entry.by, entry.basis])
        }
    }

    /// Every saved budget, as entries to restore into the shared state.
    public func budgets() throws -> [BudgetEntry] {
        try db.sync { db in
            try db.rows("SELECT host, target, actions, quarantined, healthySince, version, writer, basis FROM budget ORDER BY host, target")
                .map { row in
                    let times = (try? JSONInput.decode([Double].self, from: Data(try row.text("actions").utf8))) ?? []
                    let record = RestartBudget.Record(
                        actions: times.map(Date.init(timeIntervalSince1970:)), quarantined: try row.integer("quarantined") != 0,
                        healthySince: try row.optionalDouble("healthySince").map(Date.init(timeIntervalSince1970:)))
                    return BudgetEntry(
                        key: TargetKey(host: try row.text("host"), container: try row.text("target")), record: record,
                        stamp: BudgetStamp(
                            version: Int(try row.integer("version")), by: try row.text("writer"), basis: try row.integer("basis")),
                        at: Date())
                }
        }
    }
}
