/// One HTTP request, over TCP or a unix socket.
public struct HTTPRequest: Sendable {
    public var method: String
    /// Full URL; for a unix socket the host part is ignored (use `http://localhost/...`).
    public var url: String
    /// Set to talk HTTP over this unix socket instead of TCP.
    public var unixSocketPath: String?
    public var headers: [(String, String)]
    public var body: [UInt8]?
    /// Deadline for the whole exchange.
    public var timeout: Duration
    public var connectTimeout: Duration
    /// A response body larger than this fails the request with ``HTTPError/responseTooLarge(limit:)``.
    public var maxResponseBytes: Int
    /// TLS client settings for https URLs; nil uses the system's CA store and no client certificate.
    public var tls: HTTPTLSSettings?
    /// Response headers to keep (names in lower case, e.g. `x-subject-token`); others are dropped.
    public var keepHeaders: Set<String>
    /// The URL as error messages name it, when the real one carries a secret (a webhook's
    /// token in its path); nil names ``url``.
    public var urlInErrors: String?

    public init(
        method: String = "GET", url: String, unixSocketPath: String? = nil, headers: [(String, String)] = [],
        body: [UInt8]? = nil, timeout: Duration = .seconds(10), connectTimeout: Duration = .seconds(3),
        maxResponseBytes: Int = 8 << 20, tls: HTTPTLSSettings? = nil, keepHeaders: Set<String> = [],
        urlInErrors: String? = nil
    ) {
        self.urlInErrors = urlInErrors
        self.keepHeaders = keepHeaders
        self.method = method
        self.url = url
        self.unixSocketPath = unixSocketPath
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.maxResponseBytes = maxResponseBytes
        self.tls = tls
    }
}

/// Certificates for an https request: the CA that signed the server, and an optional
/// client certificate and key (PEM files).
public struct HTTPTLSSettings: Sendable, Hashable {
    public var caFile: String?
    public var certificateFile: String?
    public var keyFile: String?

    public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }
}

/// The answer to an ``HTTPRequest``.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var body: [UInt8]
    /// The headers the request asked to keep (``HTTPRequest/keepHeaders``), by lower-case name.
    public var headers: [String: String]

    public init(status: Int, body: [UInt8], headers: [String: String] = [:]) {
        self.status = status
        self.body = body
        self.headers = headers
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// Why an ``HTTPRequest`` got no response.
public enum HTTPError: Error, Equatable, CustomStringConvertible {
    /// Nothing listens, the name does not resolve, or the connection was refused or reset.
    case unreachable(String)
    /// The deadline passed (connect or whole request).
    case timedOut(String)
    case responseTooLarge(limit: Int)
    case tls(String)
    /// A streamed response answered with a status other than 2xx (and the start of its body).
    case status(Int, String)
    case cancelled
    case other(String)

    public var description: String {
        switch self {
        case .unreachable(let s): "unreachable: \(s)"
        case .timedOut(let s): "timed out: \(s)"
        case .responseTooLarge(let limit): "response larger than \(limit) bytes"
        case .tls(let s): "TLS: \(s)"
        case .status(let code, let body): "HTTP \(code): \(body)"
        case .cancelled: "cancelled"
        case .other(let s): s
        }
    }
}
