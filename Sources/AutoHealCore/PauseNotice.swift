import FoundationEssentials

/// A maintenance pause (or its end), an exclusion of one target, or an operator's release of
/// a quarantined target, as `autoheal pause` / `resume` / `release` leave it on the broker's
/// state stream for every engine to read (see ``SharedStateMessage``). For each target (or
/// all healing) the notice furthest on in the stream is in force; a pause survives engine
/// restarts and ends by itself at `until`.
public struct PauseNotice: Sendable, Equatable, Codable {
    public var paused: Bool
    /// When the pause ends by itself; nil for "until `autoheal resume`".
    public var until: Date?
    public var reason: String
    /// Who asked (user@host).
    public var by: String
    /// When it was asked; the newest notice for the same target wins.
    public var at: Date
    /// Only this container on this host (an exclusion); nil pauses all healing.
    public var target: TargetKey?
    /// An operator's release of the target from quarantine (`autoheal release`), not a pause.
    public var release: Bool

    public init(paused: Bool, until: Date?, reason: String, by: String, at: Date = Date(), target: TargetKey? = nil, release: Bool = false)
    {
        self.paused = paused
        self.until = until
        self.reason = reason
        self.by = by
        self.at = at
        self.target = target
        self.release = release
    }

    enum CodingKeys: String, CodingKey { case kind, paused, until, reason, by, at, target, release }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        paused = try c.decode(Bool.self, forKey: .paused)
        reason = try c.decodeIfPresent(String.self, forKey: .reason) ?? ""
        by = try c.decodeIfPresent(String.self, forKey: .by) ?? ""
        at = try c.decodeTime(forKey: .at)
        until = try c.decodeIfPresent(String.self, forKey: .until).flatMap(Envelope.parseDate)
        target = try c.decodeIfPresent(TargetKey.self, forKey: .target)
        release = try c.decodeIfPresent(Bool.self, forKey: .release) ?? (try c.decodeIfPresent(String.self, forKey: .kind) == "release")
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(release ? "release" : "pause", forKey: .kind)
        try c.encode(paused, forKey: .paused)
        try c.encodeIfPresent(until.map(Envelope.formatDate), forKey: .until)
        try c.encode(reason, forKey: .reason)
        try c.encode(by, forKey: .by)
        try c.encode(Envelope.formatDate(at), forKey: .at)
        try c.encodeIfPresent(target, forKey: .target)
        if release { try c.encode(true, forKey: .release) }
    }

    /// Whether healing is paused by this notice at `now`.
    public func isActive(now: Date = Date()) -> Bool { paused && (until.map { $0 > now } ?? true) }

    public var summary: String {
        let end = until.map { "until \(Envelope.formatDate($0))" } ?? "until resumed"
        let what = target.map { "\($0) excluded" } ?? "paused"
        return "\(what) by \(by.isEmpty ? "?" : by) \(end)\(reason.isEmpty ? "" : ": \(reason)")"
    }
}

/// Durations as operators type them: `90s`, `30m`, `2h`, `1h30m`, `1d`, or plain seconds.
public enum DurationText {
    public static func seconds(_ text: String) -> Int? {
        if let n = Int(text), n > 0 { return n }
        var total = 0, number = "", sawUnit = false
        for ch in text.lowercased() {
            if ch.isNumber {
                number.append(ch)
                continue
            }
            guard let n = Int(number) else { return nil }
            let unit: Int
            switch ch {
            case "s": unit = 1
            case "m": unit = 60
            case "h": unit = 3600
            case "d": unit = 86_400
            default: return nil
            }
            // Typed by a person: a number too large for Int is refused, not a trap.
            let (part, overflow) = n.multipliedReportingOverflow(by: unit)
            let (sum, overflow2) = total.addingReportingOverflow(part)
            guard !overflow, !overflow2 else { return nil }
            total = sum
            number = ""
            sawUnit = true
        }
        return number.isEmpty && sawUnit && total > 0 ? total : nil
    }
}
