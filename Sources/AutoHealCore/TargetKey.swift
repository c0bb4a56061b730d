/// One container on one host: the unit that attempts and decisions are counted for.
public struct TargetKey: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The host as written in the config (for example `10.0.0.11` or `unix:///var/run/docker.sock`).
    public var host: String
    public var container: String

    public init(host: String, container: String) {
        self.host = host
        self.container = container
    }

    public var description: String { "\(host)/\(container)" }
}
