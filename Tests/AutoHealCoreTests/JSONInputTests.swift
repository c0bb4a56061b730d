import Foundation
import Testing

@testable import AutoHealCore

/// FoundationEssentials' `JSONDecoder` traps (SIGILL) instead of throwing when the `[` that
/// passes its 512-level nesting limit is the last byte of the text; without the guard in
/// ``JSONInput`` these tests kill the test process instead of failing one by one.
@Suite("JSON input")
struct JSONInputTests {
    /// A number in any depth of arrays.
    indirect enum Nest: Decodable {
        case number(Int)
        case list([Nest])

        init(from decoder: any Decoder) throws {
            let value = try decoder.singleValueContainer()
            if let number = try? value.decode(Int.self) { self = .number(number) } else { self = .list(try value.decode([Nest].self)) }
        }
    }

    static let trapping = [
        String(repeating: "[", count: 513),
        " " + String(repeating: "[", count: 513),
        String(repeating: "[1,", count: 512) + "[",
        "{\"a\":" + String(repeating: "[", count: 512),
    ]

    @Test(arguments: trapping)
    func nestingPastTheLimitAtTheEndIsAnErrorNotATrap(_ text: String) {
        #expect(throws: DecodingError.self) { try JSONInput.decode([String: String].self, from: Array(text.utf8)) }
        #expect(throws: DecodingError.self) { try JSONInput.decode(Nest.self, from: Array(text.utf8)) }
    }

    @Test func anEnvelopeNestedPastTheLimitIsMalformedNotATrap() {
        let body = "{\"version\": 1, \"payload\": " + String(repeating: "[", count: 512)
        #expect(throws: EnvelopeError.malformed("not valid JSON")) {
            try Envelope.decode(Array(body.utf8), queueScope: .control)
        }
    }

    @Test func everyOtherTextIsLeftToTheDecoder() throws {
        #expect(try JSONInput.decode([[String]].self, from: Array("[[\"a\"]]".utf8)) == [["a"]])
        #expect(try JSONInput.decode([String: Int].self, from: Array("{\"a\": 1}\n".utf8)) == ["a": 1])
        // 512 levels are still read; 513 are refused by the decoder itself.
        let deep = String(repeating: "[", count: 511) + "1" + String(repeating: "]", count: 511)
        #expect(throws: Never.self) { try JSONInput.decode(Nest.self, from: Array(deep.utf8)) }
        #expect(throws: DecodingError.self) {
            try JSONInput.decode(Nest.self, from: Array((String(repeating: "[", count: 600) + "]").utf8))
        }
    }
}
