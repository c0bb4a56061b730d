import AutoHealCore
import FoundationEssentials

/// One message of Docker's `GET /events` stream (the fields the healer reads).
///
/// `action` is what happened: `die`, `oom`, `start`, `health_status: unhealthy`… For a
/// container, `attributes` holds its `name` (and `exitCode` for `die`).
public struct DockerEvent: Sendable, Equatable, Decodable {
    public var type: String
    public var action: String
    public var actorID: String
    public var attributes: [String: String]
    /// When Docker recorded it, in nanoseconds since the epoch (Docker's clock).
    public var timeNano: Int64

    public init(type: String, action: String, actorID: String, attributes: [String: String], timeNano: Int64) {
        self.type = type
        self.action = action
        self.actorID = actorID
        self.attributes = attributes
        self.timeNano = timeNano
    }

    /// The container's name, for a container event.
    public var containerName: String? { attributes["name"] }

    private enum Keys: String, CodingKey { case `Type`, Action, Actor, timeNano, time }
    private enum ActorKeys: String, CodingKey { case ID, Attributes }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        type = try c.decodeIfPresent(String.self, forKey: .Type) ?? ""
        action = try c.decode(String.self, forKey: .Action)
        let actor = try c.nestedContainer(keyedBy: ActorKeys.self, forKey: .Actor)
        actorID = try actor.decodeIfPresent(String.self, forKey: .ID) ?? ""
        attributes = try actor.decodeIfPresent([String: String].self, forKey: .Attributes) ?? [:]
        // Times come from another program: clamp to [0, Int64.max] instead of trapping on
        // a value that overflows (a `time` in seconds beyond year 2262, a negative one).
        if let nano = try c.decodeIfPresent(Int64.self, forKey: .timeNano) {
            timeNano = max(0, nano)
        } else {
            let seconds = max(0, try c.decode(Int64.self, forKey: .time))
            let (nano, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
            timeNano = overflow ? .max : nano
        }
    }
}

/// What one line of the event stream held: an event, or a line that is not one (kept with
/// the reason, so the watcher can say so without losing the stream).
public enum DockerEventItem: Sendable {
    case event(DockerEvent)
    case undecodable(line: String, reason: String)
}

/// Turns the chunks of `GET /events` into events: lines reassembled across chunks, each
/// decoded, a line that is not an event kept as `.undecodable` (never thrown, never a trap).
public struct DockerEventDecoder: Sendable {
    private var splitter = LineSplitter()

    public init() {}

    public mutating func items(in chunk: [UInt8]) -> [DockerEventItem] {
        splitter.lines(in: chunk).compactMap { line -> DockerEventItem? in
            guard !line.isEmpty else { return nil }
            do {
                return .event(try JSONInput.decode(DockerEvent.self, from: Data(line)))
            } catch {
                return .undecodable(line: String(decoding: line.prefix(500), as: UTF8.self), reason: "\(error)")
            }
        }
    }
}

/// Splits a byte stream into lines (`\n`), keeping an unfinished line for the next chunk.
struct LineSplitter: Sendable {
    private var pending: [UInt8] = []
    /// Longest line kept; a longer one is cut (Docker's event lines are well under 4 KiB).
    let maxLine = 1 << 20

    mutating func lines(in chunk: [UInt8]) -> [[UInt8]] {
        // Only the new bytes are searched for a newline: the pending part has none. (Searching
        // it again made a long line sent in small chunks cost time quadratic in its length.)
        var searchFrom = pending.count
        pending += chunk
        var lines: [[UInt8]] = []
        var start = pending.startIndex
        while let newline = pending[searchFrom...].firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(Array(pending[start..<newline]))
            start = newline + 1
            searchFrom = start
        }
        pending.removeSubrange(..<start)
        if pending.count > maxLine {
            lines.append(pending)
            pending.removeAll()
        }
        return lines
    }
}

/// A point in Docker's time, as `GET /events?since=` takes it (`seconds.nanoseconds`).
public struct DockerTimestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var nanosecondsSinceEpoch: Int64

    public init(nanosecondsSinceEpoch: Int64) { self.nanosecondsSinceEpoch = nanosecondsSinceEpoch }

    /// This host's clock now (Docker's clock, when Docker runs here).
    public static var now: DockerTimestamp { DockerTimestamp(nanosecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1e9)) }

    public static func < (a: Self, b: Self) -> Bool { a.nanosecondsSinceEpoch < b.nanosecondsSinceEpoch }

    /// The first point after an event's, from which a reopened stream resumes. A time far in
    /// the future (a hostile or broken event) is not followed: resuming from it would skip
    /// every real event until then, so it is capped at an hour past this host's clock.
    public static func resuming(after eventNano: Int64, now: DockerTimestamp = .now) -> DockerTimestamp {
        let cap = now.nanosecondsSinceEpoch.addingReportingOverflow(3_600_000_000_000)
        let limit = cap.overflow ? Int64.max : cap.partialValue
        let next = eventNano.addingReportingOverflow(1)
        return DockerTimestamp(nanosecondsSinceEpoch: min(next.overflow ? .max : next.partialValue, limit))
    }

    /// The time from this point to `later`, saturating at the ends of `Int64` nanoseconds (for
    /// log figures only).
    public func duration(until later: DockerTimestamp) -> Duration {
        let (delta, overflow) = later.nanosecondsSinceEpoch.subtractingReportingOverflow(nanosecondsSinceEpoch)
        if overflow { return .nanoseconds(later.nanosecondsSinceEpoch > nanosecondsSinceEpoch ? Int64.max : Int64.min) }
        return .nanoseconds(delta)
    }

    public var description: String {
        // Digits of the magnitude, so a negative value (never sent by Docker) cannot make a
        // negative padding count.
        let sign = nanosecondsSinceEpoch < 0 ? "-" : ""
        let magnitude = nanosecondsSinceEpoch.magnitude
        let nanos = String(magnitude % 1_000_000_000)
        return "\(sign)\(magnitude / 1_000_000_000)." + String(repeating: "0", count: max(0, 9 - nanos.count)) + nanos
    }
}
