import Synchronization
import Foundation
import Logging

/// A swift-log handler that writes one `key=value` line per event to standard output and
/// to the log file of the logger's area.
///
/// The area is the logger's label: `engine.control` goes to `engine-control.log` in the log
/// directory, `monitor` to `monitor.log`. A line looks like
/// `2026-11-22T03:00:01.250Z INFO engine.control revived host=10.0.0.11 container=nova_api seen=running/unhealthy action=restart result=ok duration=1.204s`.
public struct AreaLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let outputs: [LogFile]

    public init(label: String, level: Logger.Level, outputs: [LogFile]) {
        self.label = label
        self.logLevel = level
        self.outputs = outputs
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        var line = "\(Self.timestamp()) \(event.level.rawValue.uppercased()) \(label) \(event.message)"
        for key in Self.ordered(merged.keys) {
            line += " \(key)=\(Self.quoted(merged[key]!.description))"
        }
        for output in outputs { output.write(line: line) }
    }

    /// Keys that tell what happened first, the rest alphabetically.
    static let leadingKeys = ["host", "container", "payload", "scope", "seen", "action", "result", "duration"]
    static func ordered(_ keys: Dictionary<String, Logger.MetadataValue>.Keys) -> [String] {
        let lead = leadingKeys.filter { keys.contains($0) }
        return lead + keys.filter { !leadingKeys.contains($0) }.sorted()
    }

    static func quoted(_ value: String) -> String {
        if value.isEmpty { return "\"\"" }
        guard value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\n" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n") + "\""
    }

    static func timestamp() -> String {
        Date().formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: true).timeSeparator(.colon).timeZone(separator: .omitted))
    }
}

/// Sets swift-log up for a program of Cloud Auto Heal.
public enum LogSetup {
    /// Sends every logger to standard output and, when `directory` is given, to the file
    /// of its area in that directory. Returns a warning if the directory cannot be used
    /// (logging then goes to standard output only, and healing goes on).
    @discardableResult
    public static func bootstrap(directory: String?, level: Logger.Level, console: LogFile = .standardOutput) -> String? {
        var problem: String? = nil
        if let directory {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                problem = "cannot create log directory \(directory): \(error.localizedDescription); logging to standard output only"
            }
        }
        let files = LogFiles(directory: problem == nil ? directory : nil)
        LoggingSystem.bootstrap { label in
            var outputs = [console]
            if let file = files.file(forArea: label) { outputs.append(file) }
            return AreaLogHandler(label: label, level: level, outputs: outputs)
        }
        return problem
    }
}

/// One open ``LogFile`` per area, shared by every logger of that area.
final class LogFiles: Sendable {
    private let directory: String?
    private let files = Mutex<[String: LogFile]>([:])

    init(directory: String?) { self.directory = directory }

    func file(forArea label: String) -> LogFile? {
        guard let directory else { return nil }
        let name = label.replacingOccurrences(of: ".", with: "-") + ".log"
        return files.withLock { files in
            if let open = files[name] { return open }
            guard let file = LogFile(path: (directory as NSString).appendingPathComponent(name)) else { return nil }
            files[name] = file
            return file
        }
    }
}
