import Locking
import Dispatch
import FoundationEssentials
import Glibc
import Logging

/// A swift-log handler that writes one `key=value` line per event to standard output and
/// to the log file of the logger's area.
///
/// The area is the logger's label: `engine.control` goes to `engine-control.log` in the log
/// directory, `monitor` to `monitor.log`. A line looks like
/// `2026-11-22T03:00:01.250Z INFO engine.control revived host=10.0.0.11 container=nova_api seen=running/unhealthy action=restart result=ok duration=1.204s`.
public struct AreaLogHandler: LogHandler {
    /// `[logging] format`: text lines for people, or one JSON object a line for a pipeline
    /// (fluentd, Loki, OpenSearch).
    public enum Format: String, Sendable, CaseIterable {
        case text, json
    }

    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let outputs: [LogFile]
    private let format: Format

    public init(label: String, level: Logger.Level, outputs: [LogFile], format: Format = .text) {
        self.label = label
        self.logLevel = level
        self.outputs = outputs
        self.format = format
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let line: String
        switch format {
        case .text:
            var text = "\(Self.timestamp()) \(event.level.rawValue.uppercased()) \(label) "
            text += Self.escaped(Self.cut("\(event.message)", to: Self.maximumMessage))
            for key in Self.ordered(merged.keys) {
                text += " \(Self.escaped(key))=\(Self.quoted(merged[key]!.description))"
            }
            line = text
        case .json:
            line = Self.json(
                time: Self.timestamp(), level: event.level.rawValue, area: label,
                message: Self.cut("\(event.message)", to: Self.maximumMessage), metadata: merged)
        }
        for output in outputs { output.write(line: line) }
    }

    /// One JSON object: time, level, area, message, then every metadata key (as strings; a key
    /// that clashes with those four is prefixed `meta_`).
    static func json(time: String, level: String, area: String, message: String, metadata: Logger.Metadata) -> String {
        var fields = [
            "\"time\":\(jsonString(time))", "\"level\":\(jsonString(level))", "\"area\":\(jsonString(area))",
            "\"message\":\(jsonString(message))",
        ]
        for key in ordered(metadata.keys) {
            let name = ["time", "level", "area", "message"].contains(key) ? "meta_" + key : key
            fields.append("\(jsonString(name)):\(jsonString(cut(metadata[key]!.description, to: maximumValue)))")
        }
        return "{" + fields.joined(separator: ",") + "}"
    }

    /// A JSON string literal (RFC 8259 escapes).
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where needsEscape(scalar):
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Keys that tell what happened first, the rest alphabetically.
    static let leadingKeys = ["host", "container", "payload", "scope", "seen", "action", "result", "duration"]
    static func ordered(_ keys: Dictionary<String, Logger.MetadataValue>.Keys) -> [String] {
        let lead = leadingKeys.filter { keys.contains($0) }
        return lead + keys.filter { !leadingKeys.contains($0) }.sorted()
    }

    /// Longest message and metadata value written; the rest is cut with a note of its size,
    /// so one huge value (a message body, a command's output) cannot flood a log.
    static let maximumMessage = 4096
    static let maximumValue = 2048

    static func cut(_ text: String, to limit: Int) -> String {
        let scalars = text.unicodeScalars
        guard scalars.count > limit else { return text }
        let kept = String(String.UnicodeScalarView(scalars.prefix(limit)))
        return kept + "…[\(text.utf8.count - kept.utf8.count) more bytes]"
    }

    /// Control characters (C0, DEL, C1) and the Unicode line separators: written as escapes,
    /// so a value cannot end a line, forge another one or drive a terminal.
    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    /// `text` with backslashes and control characters escaped: a newline as backslash-n, ESC as
    /// backslash-u{1b}.
    static func escaped(_ text: String, quote: Bool = false) -> String {
        guard text.unicodeScalars.contains(where: { needsEscape($0) || $0 == "\\" || (quote && $0 == "\"") }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"" where quote: out += "\\\""
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where needsEscape(scalar): out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// A metadata value for a text line: cut, escaped, and quoted when it holds a space, a
    /// quote, `=` or anything escaped.
    static func quoted(_ raw: String) -> String {
        if raw.isEmpty { return "\"\"" }
        let value = cut(raw, to: maximumValue)
        guard value.unicodeScalars.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\\" || needsEscape($0) }) else {
            return value
        }
        return "\"" + escaped(value, quote: true) + "\""
    }

    /// `2026-11-22T03:00:00.250Z`. By hand (``WireTime``): Foundation's formatter would load
    /// the time zone database and ICU's data into every daemon to write UTC.
    static func timestamp() -> String { WireTime.format(Date()) }
}

/// Sets swift-log up for a program of Cloud Auto Heal.
public enum LogSetup {
    /// Sends every logger to standard output and, when `directory` is given, to the file
    /// of its area in that directory. Returns a warning if the directory cannot be used
    /// (logging then goes to standard output only, and healing goes on).
    @discardableResult
    public static func bootstrap(
        directory: String?, level: Logger.Level, format: AreaLogHandler.Format = .text, console: LogFile = .standardOutput
    ) -> String? {
        var problem: String? = nil
        if let directory {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                problem = "cannot create log directory \(directory): \(error.operatorText); logging to standard output only"
            }
        }
        let files = LogFiles(directory: problem == nil ? directory : nil, console: console, format: format)
        LoggingSystem.bootstrap { label in
            var outputs = [console]
            if let file = files.file(forArea: label) { outputs.append(file) }
            return AreaLogHandler(label: label, level: level, outputs: outputs, format: format)
        }
        openFiles.withLock { $0 = files }
        return problem
    }

    private static let openFiles = Locked<LogFiles?>(nil)

    /// Reopens every log file (logrotate's `postrotate` sends SIGHUP for this).
    public static func reopenFiles() { openFiles.withLock { $0 }?.reopenAll() }

    /// Reopens the log files whenever the process gets SIGHUP, from a signal source of its own.
    public static func reopenOnHangup() {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler { reopenFiles() }
        source.resume()
        hangupSource = source
    }

    /// Kept for the life of the process; set once, at start-up, before any other thread logs.
    nonisolated(unsafe) private static var hangupSource: (any DispatchSourceSignal)?
}

/// One open ``LogFile`` per area, shared by every logger of that area.
///
/// A file that cannot be opened (or reopened after rotation) is an ERROR on the console, once
/// until it opens again: that area's lines then go to standard output only, never to silence.
final class LogFiles: Sendable {
    private let directory: String?
    private let console: LogFile
    private let format: AreaLogHandler.Format
    private let files = Locked<(open: [String: LogFile], failed: Set<String>)>(([:], []))

    init(directory: String?, console: LogFile, format: AreaLogHandler.Format) {
        self.directory = directory
        self.console = console
        self.format = format
    }

    func reopenAll() {
        for file in files.withLock({ Array($0.open.values) }) {
            if let error = file.reopen() { report(error, then: "lines go on to the file as it was before the rotation") }
        }
    }

    func file(forArea label: String) -> LogFile? {
        guard let directory else { return nil }
        let name = label.replacing(".", with: "-") + ".log"
        let path = directory.pathAppending(name)
        let opened = files.withLock { files -> Result<LogFile, LogFile.OpenError>? in
            if let open = files.open[name] { return .success(open) }
            do throws(LogFile.OpenError) {
                let file = try LogFile(path: path)
                files.open[name] = file
                files.failed.remove(name)
                return .success(file)
            } catch {
                // Reported once; a later logger of the area tries again.
                return files.failed.insert(name).inserted ? .failure(error) : nil
            }
        }
        switch opened {
        case .success(let file): return file
        case .failure(let error):
            report(error, then: "this area logs to standard output only")
            return nil
        case nil: return nil
        }
    }

    /// An ERROR line on the console, formatted like every other line.
    private func report(_ error: LogFile.OpenError, then consequence: String) {
        let console = self.console, format = self.format
        let logger = Logger(label: "logging") { label in
            AreaLogHandler(label: label, level: .error, outputs: [console], format: format)
        }
        logger.error(
            "cannot open log file; \(consequence)", metadata: ["file": "\(error.path)", "error": "\(error.reason)"])
    }
}
