import FoundationEssentials

/// The one reader of JSON from outside (queues, the Docker and Nova APIs, Keystone, the
/// journal): `JSONDecoder`, behind a guard for a trap in FoundationEssentials (Swift 6.3).
///
/// The decoder refuses more than 512 nested arrays and objects with an error that says where.
/// When the `[` past that limit is the last byte of the text, working out the place reads past
/// the end and the process dies with SIGILL in `JSONError.SourceLocation` instead of throwing:
/// 513 `[` on a queue or in an API answer would stop the engine, again on every redelivery.
/// A JSON text never ends with `[` or `{`, so such a text is refused here with the error the
/// decoder gives any broken JSON. `scripts/fuzz.sh` found it (nova-api); `JSONInputTests`
/// and the fuzz crash corpus replay it.
public enum JSONInput {
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        if let last = data.last, last == UInt8(ascii: "[") || last == UInt8(ascii: "{") {
            throw DecodingError.dataCorrupted(
                .init(codingPath: [], debugDescription: "The given data was not valid JSON: it ends inside an array or object."))
        }
        return try JSONDecoder().decode(type, from: data)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try decode(type, from: Data(bytes))
    }
}
