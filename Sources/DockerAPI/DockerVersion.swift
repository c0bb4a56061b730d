/// The part of `GET /version` the healer reads.
public struct DockerVersion: Sendable, Decodable, Equatable {
    public var version: String
    public var apiVersion: String
    public var minAPIVersion: String?

    enum CodingKeys: String, CodingKey {
        case version = "Version"
        case apiVersion = "ApiVersion"
        case minAPIVersion = "MinAPIVersion"
    }

    /// The older of two API versions such as "1.41" and "1.47".
    static func older(_ a: String, _ b: String) -> String {
        func parts(_ v: String) -> [Int] { v.split(separator: ".").map { Int($0) ?? 0 } }
        return parts(a).lexicographicallyPrecedes(parts(b)) ? a : b
    }
}
