import FoundationEssentials

/// One heal request as it travels through the broker.
///
/// On the wire it is a JSON object (version 1):
/// `{"version":1,"id":"…","payload":"container_auto_heal","scope":"control",
///   "issued_at":"2026-11-22T03:00:00Z","expires_at":"2026-11-22T03:01:00Z",
///   "target":{"host":"10.0.0.11","container":"nova_api"}}`
/// (`expires_at` and `target` optional). A bare payload name such as `container_auto_heal`,
/// as the old monitor sent it, is read as an envelope for the queue's scope with no expiry.
public struct Envelope: Sendable, Equatable, Decodable {
    public static let currentVersion = 1
    /// Bodies larger than this are refused without being parsed.
    public static let maximumBodySize = 64 * 1024

    public var version: Int
    public var id: String
    public var payload: Payload
    public var scope: Scope
    public var issuedAt: Date
    public var expiresAt: Date?
    /// Set for a request about one container on one host; nil for a sweep of the whole scope.
    public var target: TargetKey?

    public init(
        id: String = Envelope.newID(), payload: Payload, scope: Scope,
        issuedAt: Date = Date(), expiresAt: Date? = nil, target: TargetKey? = nil
    ) {
        self.version = Self.currentVersion
        self.id = id
        self.payload = payload
        self.scope = scope
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.target = target
    }

    /// A random (version 4) UUID in lower case, as `UUID().uuidString.lowercased()` writes
    /// it, from `getrandom` (Foundation's `UUID()` here opens `/dev/urandom` for each one).
    public static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        var uuid: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &uuid) { bytes in
            bytes.storeBytes(of: generator.next() as UInt64, toByteOffset: 0, as: UInt64.self)
            bytes.storeBytes(of: generator.next() as UInt64, toByteOffset: 8, as: UInt64.self)
        }
        uuid.6 = uuid.6 & 0x0F | 0x40  // version 4
        uuid.8 = uuid.8 & 0x3F | 0x80  // RFC 4122 variant
        return UUID(uuid: uuid).uuidString.lowercased()
    }

    enum CodingKeys: String, CodingKey {
        case version, id, payload, scope, target
        case issuedAt = "issued_at"
        case expiresAt = "expires_at"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // First the version and the payload's name: a request of a later version, or for a
        // payload this engine does not know, is refused as that, not for a field it lacks.
        guard let version = try? c.decode(Int.self, forKey: .version) else {
            throw EnvelopeError.malformed("missing or non-integer \"version\"")
        }
        guard version == Self.currentVersion else { throw EnvelopeError.unsupportedVersion(version) }
        if let name = try? c.decode(String.self, forKey: .payload), Payload(rawValue: name) == nil {
            throw EnvelopeError.unknownPayload(Self.excerpt(name))
        }
        self.version = version
        id = try c.decode(String.self, forKey: .id)
        payload = try c.decode(Payload.self, forKey: .payload)
        scope = try c.decode(Scope.self, forKey: .scope)
        target = try c.decodeIfPresent(TargetKey.self, forKey: .target)
        func date(_ key: CodingKeys) throws -> Date? {
            guard let text = try c.decodeIfPresent(String.self, forKey: key) else { return nil }
            guard let date = Self.parseDate(text) else {
                throw EnvelopeError.malformed("\"\(key.rawValue)\" is not an ISO 8601 time: \"\(Self.excerpt(text))\"")
            }
            return date
        }
        guard let issued = try date(.issuedAt) else { throw EnvelopeError.malformed("missing \"issued_at\"") }
        issuedAt = issued
        expiresAt = try date(.expiresAt)
    }

    /// UTC with milliseconds: `2026-11-22T03:00:00.250Z` (``WireTime``).
    public static func formatDate(_ date: Date) -> String { WireTime.format(date) }

    /// Reads ISO 8601 times with or without fractional seconds (``WireTime``).
    public static func parseDate(_ text: String) -> Date? { WireTime.parse(text) }

    /// The JSON body to publish, its one writer: keys sorted, no spaces, slashes not escaped
    /// (what `JSONEncoder` with `.sortedKeys, .withoutEscapingSlashes` wrote from an
    /// `Encodable` envelope until 2026-12-02, checked against it in `EnvelopeTests`; written
    /// directly because the monitor encodes one per request, and the encoder's generic path
    /// cost more than the publish itself).
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        func key(_ name: StaticString, first: Bool = false) {
            if !first { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            out.append(contentsOf: "\":".utf8)
        }
        out.append(UInt8(ascii: "{"))
        if let expiresAt {
            key("expires_at", first: true)
            JSONText.appendString(Self.formatDate(expiresAt), to: &out)
            key("id")
        } else {
            key("id", first: true)
        }
        JSONText.appendString(id, to: &out)
        key("issued_at")
        JSONText.appendString(Self.formatDate(issuedAt), to: &out)
        key("payload")
        JSONText.appendString(payload.rawValue, to: &out)
        key("scope")
        JSONText.appendString(scope.rawValue, to: &out)
        if let target {
            key("target")
            out.append(contentsOf: "{\"container\":".utf8)
            JSONText.appendString(target.container, to: &out)
            out.append(contentsOf: ",\"host\":".utf8)
            JSONText.appendString(target.host, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        key("version")
        out.append(contentsOf: String(version).utf8)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Reads a message body received on the queue of `queueScope`.
    ///
    /// Throws ``EnvelopeError`` naming what is wrong; never returns a request for another scope.
    public static func decode(_ body: [UInt8], queueScope: Scope, now: Date = Date()) throws(EnvelopeError) -> Envelope {
        guard body.count <= maximumBodySize else { throw .tooLarge(bytes: body.count) }
        guard let text = String(validating: body, as: UTF8.self) else { throw .notUTF8 }
        let trimmed = text.trimmingWhitespace()
        guard !trimmed.isEmpty else { throw .empty }

        let envelope: Envelope
        if trimmed.hasPrefix("{") {
            envelope = try decodeJSON(Data(trimmed.utf8))
        } else {
            // The old monitor's plain string, possibly JSON-quoted.
            var name = trimmed
            if name.count >= 2, name.hasPrefix("\""), name.hasSuffix("\"") { name = String(name.dropFirst().dropLast()) }
            guard let payload = Payload(rawValue: name) else { throw .unknownPayload(Self.excerpt(name)) }
            envelope = Envelope(payload: payload, scope: queueScope, issuedAt: now)
        }
        guard envelope.scope == queueScope else {
            throw .wrongScope(payload: envelope.payload, scope: envelope.scope, queue: queueScope)
        }
        guard envelope.payload.scopes.contains(queueScope) else {
            throw .payloadNotForScope(payload: envelope.payload, scope: queueScope)
        }
        if let expiry = envelope.expiresAt, expiry < now {
            throw .expired(expiresAt: expiry)
        }
        return envelope
    }

    /// One pass of `JSONDecoder`; ``init(from:)`` checks the version and the payload first.
    private static func decodeJSON(_ data: Data) throws(EnvelopeError) -> Envelope {
        do {
            let envelope = try JSONInput.decode(Envelope.self, from: data)
            guard !envelope.id.isEmpty else { throw EnvelopeError.malformed("empty \"id\"") }
            return envelope
        } catch let error as EnvelopeError {
            throw error
        } catch let DecodingError.dataCorrupted(context) where context.codingPath.isEmpty {
            throw .malformed("not valid JSON")
        } catch let DecodingError.typeMismatch(_, context) where context.codingPath.isEmpty {
            throw .malformed("not a JSON object")
        } catch let DecodingError.keyNotFound(key, _) {
            throw .malformed("missing \"\(key.stringValue)\"")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw .malformed("bad value at \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\"")
        } catch let DecodingError.dataCorrupted(context) {
            throw .malformed(
                "bad value at \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\": \(context.debugDescription)")
        } catch {
            throw .malformed("\(error)")
        }
    }

    static func excerpt(_ s: String) -> String { s.count > 64 ? String(s.prefix(64)) + "…" : s }
}

/// Why a message body is not a request the engine will act on.
public enum EnvelopeError: Error, Equatable, CustomStringConvertible {
    case empty
    case tooLarge(bytes: Int)
    case notUTF8
    case malformed(String)
    case unsupportedVersion(Int)
    case unknownPayload(String)
    case wrongScope(payload: Payload, scope: Scope, queue: Scope)
    case payloadNotForScope(payload: Payload, scope: Scope)
    case expired(expiresAt: Date)

    public var description: String {
        switch self {
        case .empty: "empty body"
        case .tooLarge(let n): "body of \(n) bytes is over the \(Envelope.maximumBodySize)-byte limit"
        case .notUTF8: "body is not UTF-8 text"
        case .malformed(let why): "malformed envelope: \(why)"
        case .unsupportedVersion(let v): "unsupported envelope version \(v) (this engine reads version \(Envelope.currentVersion))"
        case .unknownPayload(let name): "unknown payload \"\(name)\""
        case .wrongScope(let p, let s, let q): "\(p.rawValue) for scope \(s.rawValue) arrived on the \(q.rawValue) queue"
        case .payloadNotForScope(let p, let s): "\(p.rawValue) is not a \(s.rawValue) payload"
        case .expired(let at): "expired at \(Envelope.formatDate(at))"
        }
    }
}

extension KeyedDecodingContainer {
    /// An ISO 8601 time written as a string (with or without fractional seconds).
    func decodeTime(forKey key: Key) throws -> Date {
        guard let date = Envelope.parseDate(try decode(String.self, forKey: key)) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "not an ISO 8601 time")
        }
        return date
    }
}
