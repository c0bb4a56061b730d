/// Percent-encoding of a URL's path segments and query values (RFC 3986, section 2.1).
///
/// By hand rather than through Foundation's `CharacterSet`: its Unicode-aware sets keep
/// letters outside ASCII as they are (`.alphanumerics` keeps `é`), and building them loads
/// ICU's data into a daemon that otherwise never touches it (about 4 MB of RSS).
public enum PercentEncoding {
    private static let hex: [UInt8] = Array("0123456789ABCDEF".utf8)

    /// `text` with every byte of its UTF-8 but the unreserved characters (`A-Z a-z 0-9 - . _
    /// ~`) written as `%XX`: safe as one path segment (a `/` is encoded) or one query value.
    public static func encoded(_ text: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if isUnreserved(byte) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            true
        default: false
        }
    }
}
