import Foundation

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
        if let nano = try c.decodeIfPresent(Int64.self, forKey: .timeNano) {
            timeNano = nano
        } else {
            timeNano = (try c.decode(Int64.self, forKey: .time)) * 1_000_000_000
        }
    }
}

/// What one line of the event stream held: an event, or a line that is not one (kept with
/// the reason, so the watcher can say so without losing the stream).
public enum DockerEventItem: Sendable {
    case event(DockerEvent)
    case undecodable(line: String, reason: String)
}

/// Splits a byte stream into lines (`\n`), keeping an unfinished line for the next chunk.
struct LineSplitter {
    private var pending: [UInt8] = []
    /// Longest line kept; a longer one is cut (Docker's event lines are well under 4 KiB).
    let maxLine = 1 << 20

    mutating func lines(in chunk: [UInt8]) -> [[UInt8]] {
        pending += chunk
        var lines: [[UInt8]] = []
        var start = pending.startIndex
        while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(Array(pending[start..<newline]))
            start = newline + 1
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

    public var description: String {
        let seconds = nanosecondsSinceEpoch / 1_000_000_000, nanos = nanosecondsSinceEpoch % 1_000_000_000
        let digits = String(nanos)
        return "\(seconds)." + String(repeating: "0", count: 9 - digits.count) + digits
    }
}
