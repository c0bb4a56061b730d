import FoundationEssentials

/// One message of the state the engines share, as it travels on the broker's state stream
/// (`cloud-auto-heal.state`): a JSON object whose `kind` says what it is.
///
/// - `pause`: `autoheal pause` / `resume`, for all healing or one target (``PauseNotice``);
/// - `release`: `autoheal release HOST/TARGET` (a ``PauseNotice`` with `release`);
/// - `budget`: one target's restart budget after the acting engine changed it (``BudgetEntry``);
/// - `checkpoint`: everything still in force, so state older than the stream's retention
///   is not lost (``StateCheckpoint``);
/// - `sync`: a reader's marker for "I have read up to here"; carries no state.
///
/// Decoding never traps: anything else is a ``SharedStateMessageError`` naming what is wrong.
public enum SharedStateMessage: Sendable, Equatable {
    case pause(PauseNotice)
    case budget(BudgetEntry)
    case checkpoint(StateCheckpoint)
    case sync(id: String)

    /// A peer's clock may run this far ahead of ours; a message dated later is refused.
    public static let clockTolerance: TimeInterval = 300

    /// The JSON body to publish.
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data: Data?
        switch self {
        case .pause(let notice): data = try? encoder.encode(notice)
        case .budget(let entry): data = try? encoder.encode(Tagged(kind: "budget", value: entry))
        case .checkpoint(let checkpoint): data = try? encoder.encode(Tagged(kind: "checkpoint", value: checkpoint))
        case .sync(let id): data = try? encoder.encode(["kind": "sync", "id": id])
        }
        return Array(data ?? Data())
    }

    /// A `sync` marker body (see ``AMQPStreamReader``-style readers).
    public static func syncMarker(_ id: String) -> [UInt8] { SharedStateMessage.sync(id: id).encoded() }

    /// Reads one message body, checking it against `now` for dates from a clock that runs ahead.
    public static func decode(_ body: [UInt8], now: Date = Date()) throws(SharedStateMessageError) -> SharedStateMessage {
        guard body.count <= 16 << 20 else { throw .malformed("\(body.count) bytes, over the 16 MiB limit") }
        let data = Data(body)
        guard let fields = try? JSONInput.decode(Header.self, from: data) else { throw .malformed("not a JSON object") }
        let kind = fields.kind ?? (fields.hasPaused ? "pause" : "")
        let message: SharedStateMessage
        do {
            switch kind {
            case "pause", "release": message = .pause(try JSONInput.decode(PauseNotice.self, from: data))
            case "budget": message = .budget(try JSONInput.decode(BudgetEntry.self, from: data))
            case "checkpoint": message = .checkpoint(try JSONInput.decode(StateCheckpoint.self, from: data))
            case "sync": message = .sync(id: fields.id ?? "")
            default: throw SharedStateMessageError.malformed("unknown kind \"\(String(kind.prefix(40)))\"")
            }
        } catch let error as SharedStateMessageError {
            throw error
        } catch let DecodingError.keyNotFound(key, _) {
            throw .malformed("\(kind): missing \"\(key.stringValue)\"")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context),
            let DecodingError.dataCorrupted(context)
        {
            throw .malformed("\(kind): bad value at \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\"")
        } catch {
            throw .malformed("\(kind): \(error)")
        }
        try message.validate(now: now)
        return message
    }

    /// The fields that say which kind a body is; a field of another type reads as absent.
    private struct Header: Decodable {
        var kind: String?
        var id: String?
        /// A pause notice written before `kind` existed has `paused` instead.
        var hasPaused: Bool

        enum CodingKeys: String, CodingKey { case kind, id, paused }

        init(from decoder: any Decoder) throws {
            let fields = try decoder.container(keyedBy: CodingKeys.self)
            kind = try? fields.decodeIfPresent(String.self, forKey: .kind)
            id = try? fields.decodeIfPresent(String.self, forKey: .id)
            hasPaused = fields.contains(.paused)
        }
    }

    /// Refuses what a decoder accepts but the state must not take: dates from a clock that
    /// runs ahead, and a checkpoint that names one target twice.
    func validate(now: Date) throws(SharedStateMessageError) {
        let latest = now.addingTimeInterval(Self.clockTolerance)
        switch self {
        case .pause(let notice):
            if notice.at > latest { throw .fromTheFuture(what: notice.release ? "release" : "pause notice", at: notice.at) }
        case .budget(let entry):
            try entry.validate(latest: latest)
        case .checkpoint(let checkpoint):
            if checkpoint.at > latest { throw .fromTheFuture(what: "checkpoint", at: checkpoint.at) }
            var seen = Set<TargetKey>()
            for entry in checkpoint.budgets {
                try entry.validate(latest: latest)
                guard seen.insert(entry.key).inserted else { throw .duplicated("budget of \(entry.key)") }
            }
            var pauses = Set<TargetKey?>()
            for pause in checkpoint.pauses {
                guard pauses.insert(pause.notice.target).inserted else {
                    throw .duplicated("pause of \(pause.notice.target.map { "\($0)" } ?? "all healing")")
                }
            }
            var releases = Set<TargetKey>()
            for release in checkpoint.releases {
                guard releases.insert(release.target).inserted else { throw .duplicated("release of \(release.target)") }
            }
        case .sync: break
        }
    }

    private struct Tagged<Value: Encodable>: Encodable {
        var kind: String
        var value: Value
        func encode(to encoder: any Encoder) throws {
            try value.encode(to: encoder)
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(kind, forKey: .kind)
        }
        enum Key: String, CodingKey { case kind }
    }
}

/// Why a state message is ignored.
public enum SharedStateMessageError: Error, Equatable, CustomStringConvertible {
    case malformed(String)
    case duplicated(String)
    case fromTheFuture(what: String, at: Date)

    public var description: String {
        switch self {
        case .malformed(let why): "malformed: \(why)"
        case .duplicated(let what): "names the \(what) twice"
        case .fromTheFuture(let what, let at):
            "\(what) dated \(Envelope.formatDate(at)), more than \(Int(SharedStateMessage.clockTolerance))s ahead of this host's clock"
        }
    }
}

/// One target's restart budget as the engine that changed it leaves it on the stream.
///
/// `version` orders the changes of one target without clocks (a Lamport counter: one more
/// than any version its writer had seen); the higher version wins, and on a tie the greater
/// `by`. `basis` is the stream offset its writer had read up to: an `autoheal release`
/// further on in the stream lifts it, one before it does not.
public struct BudgetEntry: Sendable, Equatable, Codable {
    public var host: String
    public var target: String
    public var version: Int
    public static let maximumVersion = 1 << 53
    /// The engine that wrote it (host-pid).
    public var by: String
    public var basis: Int64
    /// When it was written, by the writer's clock.
    public var at: Date
    /// Epoch seconds of the actions within the attempt window.
    public var actions: [Double]
    public var quarantined: Bool
    public var healthySince: Double?

    public init(key: TargetKey, record: RestartBudget.Record?, stamp: BudgetStamp, at: Date) {
        host = key.host
        target = key.container
        version = stamp.version
        by = stamp.by
        basis = stamp.basis
        self.at = at
        actions = record?.actions.map(\.timeIntervalSince1970) ?? []
        quarantined = record?.quarantined ?? false
        healthySince = record?.healthySince?.timeIntervalSince1970
    }

    public var key: TargetKey { TargetKey(host: host, container: target) }
    public var stamp: BudgetStamp { BudgetStamp(version: version, by: by, basis: basis) }

    /// The record it stands for; nil when it says "nothing known" (a reset or a release).
    public var record: RestartBudget.Record? {
        let record = RestartBudget.Record(
            actions: actions.map(Date.init(timeIntervalSince1970:)), quarantined: quarantined,
            healthySince: healthySince.map(Date.init(timeIntervalSince1970:)))
        return record.isEmpty ? nil : record
    }

    func validate(latest: Date) throws(SharedStateMessageError) {
        if at > latest { throw .fromTheFuture(what: "budget of \(key)", at: at) }
        let newest = (actions + [healthySince ?? -.infinity]).max() ?? -.infinity
        guard newest.isFinite || newest == -.infinity else { throw .malformed("budget of \(key): a time is not a number") }
        if newest > latest.timeIntervalSince1970 {
            throw .fromTheFuture(what: "an action in the budget of \(key)", at: Date(timeIntervalSince1970: newest))
        }
        // One version per change: a legitimate counter never nears 2^53. A larger one is
        // poison (it would make every later change overflow the counter).
        guard (0...Self.maximumVersion).contains(version) else {
            throw .malformed("budget of \(key): version \(version) outside 0...2^53")
        }
    }

    enum CodingKeys: String, CodingKey {
        case host, target, version, by, basis, at, actions, quarantined
        case healthySince = "healthy_since"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        host = try c.decode(String.self, forKey: .host)
        target = try c.decode(String.self, forKey: .target)
        version = try c.decode(Int.self, forKey: .version)
        by = try c.decode(String.self, forKey: .by)
        basis = try c.decodeIfPresent(Int64.self, forKey: .basis) ?? -1
        at = try c.decodeTime(forKey: .at)
        actions = try c.decode([Double].self, forKey: .actions)
        quarantined = try c.decode(Bool.self, forKey: .quarantined)
        healthySince = try c.decodeIfPresent(Double.self, forKey: .healthySince)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(host, forKey: .host)
        try c.encode(target, forKey: .target)
        try c.encode(version, forKey: .version)
        try c.encode(by, forKey: .by)
        try c.encode(basis, forKey: .basis)
        try c.encode(Envelope.formatDate(at), forKey: .at)
        try c.encode(actions, forKey: .actions)
        try c.encode(quarantined, forKey: .quarantined)
        try c.encodeIfPresent(healthySince, forKey: .healthySince)
    }
}

/// Which change of a target's budget a record is (see ``BudgetEntry``).
public struct BudgetStamp: Sendable, Equatable, Codable {
    public var version: Int
    public var by: String
    public var basis: Int64

    public init(version: Int, by: String, basis: Int64) {
        self.version = version
        self.by = by
        self.basis = basis
    }

    /// Whether a record with this stamp replaces one with `other`.
    public func supersedes(_ other: BudgetStamp) -> Bool {
        version > other.version || (version == other.version && by > other.by)
    }
}

/// Everything the shared state holds at some offset of the stream, written now and then by
/// an engine so that nothing in force is lost when the stream drops its oldest segments.
/// Each part keeps the offset (or version) it came from, so applying a checkpoint never
/// undoes a newer message.
public struct StateCheckpoint: Sendable, Equatable, Codable {
    public struct Pause: Sendable, Equatable, Codable {
        public var offset: Int64
        public var notice: PauseNotice
        public init(offset: Int64, notice: PauseNotice) {
            self.offset = offset
            self.notice = notice
        }
    }

    public struct Release: Sendable, Equatable, Codable {
        public var offset: Int64
        public var target: TargetKey
        public init(offset: Int64, target: TargetKey) {
            self.offset = offset
            self.target = target
        }
    }

    public var by: String
    public var at: Date
    /// The last stream offset it covers.
    public var offset: Int64
    public var pauses: [Pause]
    public var releases: [Release]
    public var budgets: [BudgetEntry]

    public init(by: String, at: Date, offset: Int64, pauses: [Pause], releases: [Release], budgets: [BudgetEntry]) {
        self.by = by
        self.at = at
        self.offset = offset
        self.pauses = pauses
        self.releases = releases
        self.budgets = budgets
    }

    enum CodingKeys: String, CodingKey { case by, at, offset, pauses, releases, budgets }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        by = try c.decode(String.self, forKey: .by)
        at = try c.decodeTime(forKey: .at)
        offset = try c.decode(Int64.self, forKey: .offset)
        pauses = try c.decode([Pause].self, forKey: .pauses)
        releases = try c.decode([Release].self, forKey: .releases)
        budgets = try c.decode([BudgetEntry].self, forKey: .budgets)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(by, forKey: .by)
        try c.encode(Envelope.formatDate(at), forKey: .at)
        try c.encode(offset, forKey: .offset)
        try c.encode(pauses, forKey: .pauses)
        try c.encode(releases, forKey: .releases)
        try c.encode(budgets, forKey: .budgets)
    }
}
