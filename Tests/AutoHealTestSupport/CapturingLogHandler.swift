import Locking
import Logging

/// Keeps every log event, for tests that check what a handler said.
public final class LogCapture: Sendable {
    public struct Event: Sendable {
        public var level: Logger.Level
        public var message: String
        public var metadata: [String: String]
    }

    private let events = Locked<[Event]>([])

    public init() {}

    public var all: [Event] { events.withLock { $0 } }

    public func logger(_ label: String) -> Logger {
        Logger(label: label) { _ in CapturingLogHandler(capture: self) }
    }

    func append(_ event: Event) { events.withLock { $0.append(event) } }

    /// Events at `level` whose message contains `text`.
    public func events(_ level: Logger.Level, containing text: String) -> [Event] {
        all.filter { $0.level == level && $0.message.contains(text) }
    }
}

struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        capture.append(.init(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" }))
    }
}
