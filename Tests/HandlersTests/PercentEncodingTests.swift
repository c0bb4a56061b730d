import Testing

import HTTP

/// Path segments and query values of the Docker and Nova APIs (`PercentEncoding`).
@Suite("Percent-encoding")
struct PercentEncodingTests {
    @Test(arguments: [
        ("nova_api", "nova_api"),
        ("kolla-nova.compute~1", "kolla-nova.compute~1"),
        // A path separator and the characters a query gives meaning to are encoded.
        ("a/b?c=d&e#f", "a%2Fb%3Fc%3Dd%26e%23f"),
        (" +%", "%20%2B%25"),
        // UTF-8, byte by byte, in upper-case hex (Foundation's `.alphanumerics` kept `é`).
        ("hôte-é", "h%C3%B4te-%C3%A9"),
        ("", ""),
        (#"{"type":["container"]}"#, "%7B%22type%22%3A%5B%22container%22%5D%7D"),
    ])
    func encodes(_ text: String, _ expected: String) {
        #expect(PercentEncoding.encoded(text) == expected)
    }

    @Test func everyUnreservedByteAloneIsKept() {
        for byte in UInt8(0)...UInt8(127) {
            let text = String(decoding: [byte], as: UTF8.self)
            let unreserved =
                (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
                || "-._~".utf8.contains(byte)
            #expect(PercentEncoding.encoded(text) == (unreserved ? text : "%" + hex(byte)), "byte \(byte)")
        }
    }

    private func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }
}
