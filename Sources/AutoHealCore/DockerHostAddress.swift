/// Where a host's Docker Engine API listens: TCP `host:port`, or a unix socket.
///
/// Parsed from a `[hosts]` entry: `10.0.0.11` (the default port), `10.0.0.11:2376`,
/// `[fd00::11]:2375`, `tcp://10.0.0.11:2375` or `unix:///var/run/docker.sock`.
public enum DockerHostAddress: Sendable, Hashable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    /// Parses one host entry; `defaultPort` applies when the entry names none.
    /// Returns nil for an entry that is not a host.
    public init?(parsing entry: String, defaultPort: Int) {
        var text = entry.trimmingWhitespace()
        if text.hasPrefix("unix://") {
            let path = String(text.dropFirst("unix://".count))
            guard path.hasPrefix("/"), path.count > 1 else { return nil }
            self = .unix(path: path)
            return
        }
        if text.hasPrefix("tcp://") { text = String(text.dropFirst("tcp://".count)) }
        if text.hasSuffix("/") { text.removeLast() }
        guard !text.isEmpty, !text.contains(where: { $0 == " " || $0 == "/" || $0 == "\t" }) else { return nil }
        if text.hasPrefix("[") {
            // [v6]:port or [v6]
            guard let close = text.firstIndex(of: "]") else { return nil }
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard !host.isEmpty else { return nil }
            if rest.isEmpty {
                self = .tcp(host: host, port: defaultPort)
            } else {
                guard rest.first == ":", let port = Int(rest.dropFirst()), (1...65535).contains(port) else { return nil }
                self = .tcp(host: host, port: port)
            }
            return
        }
        let colons = text.filter { $0 == ":" }.count
        if colons == 1 {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard !parts[0].isEmpty, let port = Int(parts[1]), (1...65535).contains(port) else { return nil }
            self = .tcp(host: String(parts[0]), port: port)
        } else {
            // No colon: a name or IPv4 address. Several: a bare IPv6 address.
            self = .tcp(host: text, port: defaultPort)
        }
    }

    public var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): "unix://\(path)"
        }
    }
}
