import CSQLiteShim
import Dispatch

/// A value SQLite stores or returns: what the journal binds and reads.
public enum SQLiteValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)

    var text: String? {
        if case .text(let value) = self { return value }
        return nil
    }
    var double: Double? {
        switch self {
        case .real(let value): value
        case .integer(let value): Double(value)
        default: nil
        }
    }
    var integer: Int64? {
        switch self {
        case .integer(let value): value
        case .real(let value) where value == value.rounded(): Int64(exactly: value)
        default: nil
        }
    }
}

/// Swift values as SQLite values.
public protocol SQLiteBindable: Sendable {
    var sqliteValue: SQLiteValue { get }
}
extension String: SQLiteBindable { public var sqliteValue: SQLiteValue { .text(self) } }
extension Int: SQLiteBindable { public var sqliteValue: SQLiteValue { .integer(Int64(self)) } }
extension Int64: SQLiteBindable { public var sqliteValue: SQLiteValue { .integer(self) } }
extension Double: SQLiteBindable { public var sqliteValue: SQLiteValue { .real(self) } }
/// As 0 and 1, the way SQLite (and GRDB before) keeps booleans.
extension Bool: SQLiteBindable { public var sqliteValue: SQLiteValue { .integer(self ? 1 : 0) } }
extension Optional: SQLiteBindable where Wrapped: SQLiteBindable {
    public var sqliteValue: SQLiteValue { self?.sqliteValue ?? .null }
}

/// A failed SQLite call: what was asked, SQLite's code and message, and the file.
public struct SQLiteError: Error, CustomStringConvertible {
    public var code: Int32
    public var message: String
    public var path: String

    public var description: String { "journal \(path): \(message) (SQLite error \(code))" }

    /// A value the journal did not write: a column missing or of another type, a decision
    /// it does not know (a journal edited by hand, or written by a newer engine).
    static func unexpected(_ message: String, path: String) -> SQLiteError {
        SQLiteError(code: SQLITE_MISMATCH, message: message, path: path)
    }
}

/// One row of a query's result, its columns by name.
public struct SQLiteRow: Sendable {
    let columns: [String: SQLiteValue]
    let path: String

    /// The column's value, or an error that names the column when it is missing or of another
    /// type (a journal edited by hand, or written by a newer engine).
    func value<T>(_ column: String, _ read: (SQLiteValue) -> T?) throws(SQLiteError) -> T {
        guard let value = columns[column], let typed = read(value) else {
            throw .unexpected("column \(column): unexpected value \(columns[column] ?? .null)", path: path)
        }
        return typed
    }
    func text(_ column: String) throws(SQLiteError) -> String { try value(column) { $0.text } }
    func double(_ column: String) throws(SQLiteError) -> Double { try value(column) { $0.double } }
    func integer(_ column: String) throws(SQLiteError) -> Int64 { try value(column) { $0.integer } }
    func optionalDouble(_ column: String) throws(SQLiteError) -> Double? {
        if columns[column] == .null { return nil }
        return try double(column)
    }
}

/// One SQLite connection, reached only through its serial queue: every call runs there, so
/// the connection is used by one thread at a time, and an `async` caller waits without
/// holding a thread of the cooperative pool while SQLite writes to disk.
///
/// The journal's only use of SQLite, in place of GRDB (which imports Foundation and made the
/// engine load libFoundation, about 5 MB: BENCHMARKS.md). Prepared statements are kept by
/// their text and reused.
public final class SQLiteConnection: @unchecked Sendable {
    /// The connection and its prepared statements, touched only on `queue`.
    private let handle: OpaquePointer
    private var statements: [String: OpaquePointer] = [:]
    private let queue: DispatchQueue
    public let path: String

    /// Opens (or creates) the database at `path`; ":memory:" is a database of its own in memory.
    public init(path: String, busyTimeoutMilliseconds: Int32 = 5000) throws(SQLiteError) {
        self.path = path
        var opened: OpaquePointer? = nil
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let status = sqlite3_open_v2(path, &opened, flags, nil)
        guard status == SQLITE_OK, let opened else {
            let message = opened.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(opened)
            throw SQLiteError(code: status, message: "cannot open: \(message)", path: path)
        }
        handle = opened
        sqlite3_busy_timeout(opened, busyTimeoutMilliseconds)
        queue = DispatchQueue(label: "journal-sqlite")
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(handle)
    }

    /// Runs `body` on the connection's queue, blocking the caller (the CLI, start-up).
    @discardableResult
    public func sync<T>(_ body: (Access) throws -> T) throws -> T {
        try queue.sync { try body(Access(connection: self)) }
    }

    /// Runs `body` on the connection's queue; the caller's task waits, its thread does not.
    @discardableResult
    public func async<T: Sendable>(_ body: @escaping @Sendable (Access) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body(Access(connection: self)) }) }
        }
    }

    /// What a body may do with the connection while it runs on the queue.
    public struct Access {
        fileprivate let connection: SQLiteConnection

        /// Runs statements without arguments (schema changes, pragmas), several at once.
        public func execute(script sql: String) throws(SQLiteError) {
            var message: UnsafeMutablePointer<CChar>? = nil
            let status = sqlite3_exec(connection.handle, sql, nil, nil, &message)
            defer { sqlite3_free(message) }
            guard status == SQLITE_OK else {
                throw SQLiteError(code: status, message: message.map { String(cString: $0) } ?? "error", path: connection.path)
            }
        }

        /// Runs one statement with its arguments; returns how many rows it changed.
        @discardableResult
        public func execute(_ sql: String, _ arguments: [any SQLiteBindable] = []) throws(SQLiteError) -> Int {
            let statement = try connection.prepared(sql, arguments)
            defer { sqlite3_reset(statement) }
            while true {
                let status = sqlite3_step(statement)
                if status == SQLITE_DONE { break }
                guard status == SQLITE_ROW else { throw connection.error(status, sql) }
            }
            return Int(sqlite3_changes(connection.handle))
        }

        /// The rows of a query.
        public func rows(_ sql: String, _ arguments: [any SQLiteBindable] = []) throws(SQLiteError) -> [SQLiteRow] {
            let statement = try connection.prepared(sql, arguments)
            defer { sqlite3_reset(statement) }
            let count = sqlite3_column_count(statement)
            let names = (0..<count).map { String(cString: sqlite3_column_name(statement, $0)) }
            var rows: [SQLiteRow] = []
            while true {
                let status = sqlite3_step(statement)
                if status == SQLITE_DONE { break }
                guard status == SQLITE_ROW else { throw connection.error(status, sql) }
                var columns: [String: SQLiteValue] = [:]
                for index in 0..<count { columns[names[Int(index)]] = Self.column(statement, index) }
                rows.append(SQLiteRow(columns: columns, path: connection.path))
            }
            return rows
        }

        /// Runs `body` in one transaction: committed when it returns, rolled back when it throws.
        public func transaction<T>(_ body: () throws -> T) throws -> T {
            try execute(script: "BEGIN IMMEDIATE")
            do {
                let result = try body()
                try execute(script: "COMMIT")
                return result
            } catch {
                try? execute(script: "ROLLBACK")
                throw error
            }
        }

        private static func column(_ statement: OpaquePointer, _ index: Int32) -> SQLiteValue {
            switch sqlite3_column_type(statement, index) {
            case SQLITE_INTEGER: return .integer(sqlite3_column_int64(statement, index))
            case SQLITE_FLOAT: return .real(sqlite3_column_double(statement, index))
            case SQLITE_NULL: return .null
            default:
                // Text, and a blob read as text (the journal writes none).
                guard let bytes = sqlite3_column_text(statement, index) else { return .null }
                let length = Int(sqlite3_column_bytes(statement, index))
                return .text(String(decoding: UnsafeBufferPointer(start: bytes, count: length), as: UTF8.self))
            }
        }
    }

    /// The statement for `sql`, prepared once and kept, with `arguments` bound.
    private func prepared(_ sql: String, _ arguments: [any SQLiteBindable]) throws(SQLiteError) -> OpaquePointer {
        let statement: OpaquePointer
        if let kept = statements[sql] {
            statement = kept
        } else {
            var made: OpaquePointer? = nil
            let status = sqlite3_prepare_v2(handle, sql, -1, &made, nil)
            guard status == SQLITE_OK, let made else { throw error(status, sql) }
            statements[sql] = made
            statement = made
        }
        sqlite3_clear_bindings(statement)
        for (offset, argument) in arguments.enumerated() {
            let index = Int32(offset + 1)
            let status: Int32
            switch argument.sqliteValue {
            case .null: status = sqlite3_bind_null(statement, index)
            case .integer(let value): status = sqlite3_bind_int64(statement, index, value)
            case .real(let value): status = sqlite3_bind_double(statement, index, value)
            case .text(let value) where value.isEmpty:
                // Not withUTF8: an empty string may have no address, and a null one binds NULL.
                status = cah_sqlite_bind_text(statement, index, "", 0)
            case .text(let value):
                var value = value
                status = value.withUTF8 { bytes in
                    bytes.withMemoryRebound(to: CChar.self) { cah_sqlite_bind_text(statement, index, $0.baseAddress, Int32($0.count)) }
                }
            }
            guard status == SQLITE_OK else { throw error(status, sql) }
        }
        return statement
    }

    private func error(_ status: Int32, _ sql: String) -> SQLiteError {
        let statement = sql.split(separator: "\n").first.map(String.init) ?? sql
        return SQLiteError(code: status, message: "\(String(cString: sqlite3_errmsg(handle))) in \"\(statement)…\"", path: path)
    }
}
