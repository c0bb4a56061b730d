import Foundation
import Testing

@testable import AutoHealCore

@Suite("Message envelope")
struct EnvelopeTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test(arguments: ["container_auto_heal", " container_auto_heal\n", "\"container_auto_heal\""])
    func plainStringFromTheOldMonitorWorks(body: String) throws {
        let envelope = try Envelope.decode(Array(body.utf8), queueScope: .compute, now: now)
        #expect(envelope.payload == .containerAutoHeal)
        #expect(envelope.scope == .compute)
        #expect(envelope.target == nil)
        #expect(envelope.expiresAt == nil)
    }

    @Test func jsonRoundTrip() throws {
        let sent = Envelope(
            id: "abc", payload: .containerAutoHeal, scope: .control, issuedAt: now, expiresAt: now.addingTimeInterval(60),
            target: TargetKey(host: "10.0.0.11", container: "nova_api"))
        let received = try Envelope.decode(sent.encoded(), queueScope: .control, now: now)
        #expect(received == sent)
    }

    @Test func newIDsAreLowerCaseVersion4UUIDs() throws {
        var seen = Set<String>()
        for _ in 0..<1000 {
            let id = Envelope.newID()
            let uuid = try #require(UUID(uuidString: id))
            #expect(uuid.uuidString.lowercased() == id)
            #expect(uuid.uuid.6 >> 4 == 4)
            #expect(uuid.uuid.8 >> 6 == 0b10)
            seen.insert(id)
        }
        #expect(seen.count == 1000)
    }

    @Test func writesWhatJSONEncoderWrites() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let odd = "a\"b\\c/d\u{1}\u{8}\u{c}\n\r\t\u{1f}é☃🙂\u{7f}"
        let envelopes = [
            Envelope(id: "abc", payload: .allocationHeal, scope: .control, issuedAt: now),
            Envelope(
                id: odd, payload: .containerAutoHeal, scope: .compute, issuedAt: now.addingTimeInterval(0.25),
                expiresAt: now.addingTimeInterval(60.001), target: TargetKey(host: "unix:///var/run/docker.sock", container: odd)),
            Envelope(
                payload: .libvirtSuspendWakeup, scope: .compute, issuedAt: now,
                target: TargetKey(host: "10.0.0.11", container: "3f2c5a4e-0000-4000-8000-000000000001")),
        ]
        for envelope in envelopes {
            #expect(
                String(decoding: envelope.encoded(), as: UTF8.self)
                    == String(decoding: try encoder.encode(ReferenceEncoding(envelope: envelope)), as: UTF8.self))
            #expect(try Envelope.decode(envelope.encoded(), queueScope: envelope.scope, now: now) == envelope)
        }
    }

    @Test(arguments: [
        ("", EnvelopeError.empty),
        ("   ", .empty),
        ("restart_everything", .unknownPayload("restart_everything")),
        (
            #"{"version":2,"id":"a","payload":"container_auto_heal","scope":"control","issued_at":"2027-01-15T08:00:00Z"}"#,
            .unsupportedVersion(2)
        ),
        (#"{"version":1,"id":"a","payload":"nuke","scope":"control","issued_at":"2027-01-15T08:00:00Z"}"#, .unknownPayload("nuke")),
        (
            #"{"version":1,"id":"a","payload":"container_auto_heal","scope":"compute","issued_at":"2027-01-15T08:00:00Z"}"#,
            .wrongScope(payload: .containerAutoHeal, scope: .compute, queue: .control)
        ),
        (
            #"{"version":1,"id":"a","payload":"libvirt_suspend_wakeup","scope":"control","issued_at":"2027-01-15T08:00:00Z"}"#,
            .payloadNotForScope(payload: .libvirtSuspendWakeup, scope: .control)
        ),
        ("libvirt_suspend_wakeup", .payloadNotForScope(payload: .libvirtSuspendWakeup, scope: .control)),
        (
            #"{"version":1,"payload":"container_auto_heal","scope":"control","issued_at":"2027-01-15T08:00:00Z"}"#,
            .malformed("missing \"id\"")
        ),
        (
            #"{"version":1,"id":"a","payload":"container_auto_heal","scope":"control","issued_at":"yesterday"}"#,
            .malformed("\"issued_at\" is not an ISO 8601 time: \"yesterday\"")
        ),
        (
            // A day that does not exist: Foundation read it as 1 March; refused now.
            #"{"version":1,"id":"a","payload":"container_auto_heal","scope":"control","issued_at":"2026-02-29T08:00:00Z"}"#,
            .malformed("\"issued_at\" is not an ISO 8601 time: \"2026-02-29T08:00:00Z\"")
        ),
        (
            #"{"version":1,"id":"a","payload":"container_auto_heal","scope":"control","issued_at":"2027-01-15T08:00:00Z","expires_at":"2027-01-15T08:01:00Zjunk"}"#,
            .malformed("\"expires_at\" is not an ISO 8601 time: \"2027-01-15T08:01:00Zjunk\"")
        ),
        (#"{"version":"1"}"#, .malformed("missing or non-integer \"version\"")),
        ("{not json", .malformed("not valid JSON")),
        (
            #"{"version":1,"id":"a","payload":"container_auto_heal","scope":"control","issued_at":"2027-01-15T08:00:00Z""#,
            .malformed("not valid JSON")
        ),
        (
            #"{"version":1,"id":"","payload":"container_auto_heal","scope":"control","issued_at":"2027-01-15T08:00:00Z"}"#,
            .malformed("empty \"id\"")
        ),
        (#"{"version":1,"id":"a","payload":"container_auto_heal","scope":"control"}"#, .malformed("missing \"issued_at\"")),
        (
            #"{"version":1,"id":"a","payload":7,"scope":"control","issued_at":"2027-01-15T08:00:00Z"}"#,
            .malformed("bad value at \"payload\"")
        ),
        (#"{"version":1,"id":"a","scope":"control","issued_at":"2027-01-15T08:00:00Z"}"#, .malformed("missing \"payload\"")),
        (
            #"{"version":1,"id":"a","payload":"container_auto_heal","scope":"control","issued_at":"2027-01-15T08:00:00Z","#
                + #""target":{"host":"h"}}"#, .malformed("missing \"container\"")
        ),
        ("[1,2]", .unknownPayload("[1,2]")),
    ])
    func invalidBodiesAreRefusedWithTheirReason(body: String, expected: EnvelopeError) {
        #expect(throws: expected) { try Envelope.decode(Array(body.utf8), queueScope: .control, now: now) }
    }

    @Test func expiredRequestIsRefused() {
        let stale = Envelope(
            payload: .containerAutoHeal, scope: .control, issuedAt: now.addingTimeInterval(-120), expiresAt: now.addingTimeInterval(-60))
        #expect(throws: EnvelopeError.expired(expiresAt: now.addingTimeInterval(-60))) {
            try Envelope.decode(stale.encoded(), queueScope: .control, now: now)
        }
    }

    @Test func oversizedAndBinaryBodiesAreRefusedUnread() {
        #expect(throws: EnvelopeError.tooLarge(bytes: 70_000)) {
            try Envelope.decode([UInt8](repeating: 0x20, count: 70_000), queueScope: .control)
        }
        #expect(throws: EnvelopeError.notUTF8) { try Envelope.decode([0xff, 0xfe, 0x00], queueScope: .control) }
    }

    @Test func payloadScopes() {
        #expect(Payload.containerAutoHeal.scopes == [.control, .compute])
        #expect(Payload.allocationHeal.scopes == [.control])
        #expect(Payload.libvirtSuspendWakeup.scopes == [.compute])
        #expect(Topology.exchange(for: .control) == "cloud-auto-heal.control")
        #expect(Topology.queue(for: .compute) == "cloud-auto-heal.compute")
        #expect(Topology.routingKey(for: .compute) == "cloud.auto.heal.compute")
    }
}

/// The envelope as its `Encodable` conformance wrote it until 2026-12-02, with Foundation's
/// own ISO 8601 formatter: the reference `encoded()` must match byte for byte.
private struct ReferenceEncoding: Encodable {
    let envelope: Envelope

    enum CodingKeys: String, CodingKey {
        case version, id, payload, scope, target
        case issuedAt = "issued_at"
        case expiresAt = "expires_at"
    }

    static func time(_ date: Date) -> String {
        date.formatted(
            .iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: true).timeSeparator(.colon)
                .timeZone(separator: .omitted))
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(envelope.version, forKey: .version)
        try c.encode(envelope.id, forKey: .id)
        try c.encode(envelope.payload, forKey: .payload)
        try c.encode(envelope.scope, forKey: .scope)
        try c.encodeIfPresent(envelope.target, forKey: .target)
        try c.encode(Self.time(envelope.issuedAt), forKey: .issuedAt)
        try c.encodeIfPresent(envelope.expiresAt.map(Self.time), forKey: .expiresAt)
    }
}
