import AutoHealCore
import FoundationEssentials
import HTTP

/// What the healer asks of the Nova API. ``NovaClient`` is the real one; the policy tests use
/// an in-memory one.
public protocol NovaCompute: Sendable {
    /// `GET /os-services?binary=…`.
    func services(binary: String) async throws(NovaError) -> [NovaService]
    /// `GET /servers/detail?host=…&all_tenants=1`: every server Nova places on the host.
    func servers(onHost host: String) async throws(NovaError) -> [NovaServer]
    /// `GET /servers/{id}`.
    func server(_ id: String) async throws(NovaError) -> NovaServer
    /// `PUT /os-services/{id}` `{"forced_down": …}` (microversion 2.53: services by UUID).
    func setForcedDown(serviceID: String, _ forcedDown: Bool) async throws(NovaError)
    /// `POST /servers/{id}/action` `{"evacuate": {}}`: the scheduler picks the new host.
    func evacuate(serverID: String) async throws(NovaError)
}

/// A nova-compute (or other) service as `GET /os-services` reports it.
public struct NovaService: Sendable, Equatable, Decodable {
    /// A UUID from microversion 2.53 on.
    public var id: String
    public var binary: String
    public var host: String
    /// up or down: whether the service reported within `service_down_time`.
    public var state: String
    /// enabled or disabled.
    public var status: String
    public var forcedDown: Bool

    public init(id: String, binary: String, host: String, state: String, status: String, forcedDown: Bool) {
        self.id = id
        self.binary = binary
        self.host = host
        self.state = state
        self.status = status
        self.forcedDown = forcedDown
    }

    enum CodingKeys: String, CodingKey {
        case id, binary, host, state, status
        case forcedDown = "forced_down"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let text = try? c.decode(String.self, forKey: .id) { id = text } else { id = String(try c.decode(Int.self, forKey: .id)) }
        binary = try c.decode(String.self, forKey: .binary)
        host = try c.decode(String.self, forKey: .host)
        state = try c.decode(String.self, forKey: .state)
        status = try c.decode(String.self, forKey: .status)
        forcedDown = try c.decodeIfPresent(Bool.self, forKey: .forcedDown) ?? false
    }

    public var isUp: Bool { state == "up" }
}

/// A server as `GET /servers/{id}` reports it, reduced to what evacuation needs.
public struct NovaServer: Sendable, Equatable, Decodable {
    public var id: String
    public var name: String
    /// ACTIVE, SHUTOFF, REBUILD, ERROR…
    public var status: String
    /// The compute host it is on (admin only).
    public var host: String?
    public var taskState: String?
    public var metadata: [String: String]

    public init(id: String, name: String, status: String, host: String?, taskState: String? = nil, metadata: [String: String] = [:]) {
        self.id = id
        self.name = name
        self.status = status
        self.host = host
        self.taskState = taskState
        self.metadata = metadata
    }

    enum CodingKeys: String, CodingKey {
        case id, name, status, metadata
        case host = "OS-EXT-SRV-ATTR:host"
        case taskState = "OS-EXT-STS:task_state"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        status = try c.decode(String.self, forKey: .status)
        host = try c.decodeIfPresent(String.self, forKey: .host)
        taskState = try c.decodeIfPresent(String.self, forKey: .taskState)
        metadata = try c.decodeIfPresent([String: String].self, forKey: .metadata) ?? [:]
    }
}

/// Why a Nova API call did not do what was asked.
public enum NovaError: Error, Equatable, CustomStringConvertible {
    case unreachable(String)
    /// Keystone refused the login, or gave no compute endpoint.
    case authentication(String)
    /// The API answered this status and message.
    case refused(status: Int, message: String)
    case badResponse(String)

    public var description: String {
        switch self {
        case .unreachable(let d): "Nova API unreachable: \(d)"
        case .authentication(let d): "Keystone: \(d)"
        case .refused(let s, let m): "Nova API answered \(s): \(m)"
        case .badResponse(let d): "unexpected answer from the Nova API: \(d)"
        }
    }
}

/// The Nova API over HTTP: a fixed token and endpoint, or a Keystone v3 password login whose
/// token is cached and renewed when the API answers 401. Always microversion 2.53 (services by
/// UUID, `forced_down` by `PUT`). TLS is verified (with `[nova] ca_file` when set).
public final class NovaClient: NovaCompute {
    public static let microversion = "2.53"

    private struct Session: Sendable {
        var token: String
        var endpoint: String
        var expiresAt: Date?
    }

    private let settings: AutoHealConfig.Nova
    private let http: HTTPClient
    private let session = Locked<Session?>(nil)

    public init(settings: AutoHealConfig.Nova, http: HTTPClient) {
        self.settings = settings
        self.http = http
        if case .token(let token) = settings.auth, let endpoint = settings.endpoint {
            session.withLock { $0 = Session(token: token, endpoint: endpoint, expiresAt: nil) }
        }
    }

    public func services(binary: String) async throws(NovaError) -> [NovaService] {
        struct Answer: Decodable { var services: [NovaService] }
        return try decode(Answer.self, try await call("GET", "/os-services?binary=\(escape(binary))")).services
    }

    public func servers(onHost host: String) async throws(NovaError) -> [NovaServer] {
        struct Answer: Decodable { var servers: [NovaServer] }
        return try decode(Answer.self, try await call("GET", "/servers/detail?all_tenants=1&host=\(escape(host))")).servers
    }

    public func server(_ id: String) async throws(NovaError) -> NovaServer {
        struct Answer: Decodable { var server: NovaServer }
        return try decode(Answer.self, try await call("GET", "/servers/\(escape(id))")).server
    }

    public func setForcedDown(serviceID: String, _ forcedDown: Bool) async throws(NovaError) {
        _ = try await call("PUT", "/os-services/\(escape(serviceID))", body: ["forced_down": .bool(forcedDown)])
    }

    public func evacuate(serverID: String) async throws(NovaError) {
        _ = try await call("POST", "/servers/\(escape(serverID))/action", body: ["evacuate": [:]])
    }

    // MARK: - Transport

    private var tls: HTTPTLSSettings? { settings.caFile.map { HTTPTLSSettings(caFile: $0) } }

    /// Sends one request; a 401 with a Keystone login renews the token once and sends it again.
    private func call(_ method: String, _ path: String, body: JSONValue? = nil) async throws(NovaError) -> HTTPResponse {
        var renewed = false
        while true {
            let current = try await currentSession()
            var request = HTTPRequest(
                method: method, url: current.endpoint.trimmingSuffix("/") + path,
                headers: [
                    ("X-Auth-Token", current.token), ("Accept", "application/json"), ("Content-Type", "application/json"),
                    ("OpenStack-API-Version", "compute \(Self.microversion)"), ("X-OpenStack-Nova-API-Version", Self.microversion),
                ],
                timeout: .seconds(settings.timeoutSeconds), connectTimeout: .seconds(5), tls: tls)
            if let body { request.body = body.encoded }
            let response: HTTPResponse
            do {
                response = try await http.execute(request)
            } catch {
                throw .unreachable("\(method) \(path): \(error)")
            }
            if response.status == 401, case .password = settings.auth, !renewed {
                session.withLock { $0 = nil }
                renewed = true
                continue
            }
            guard (200..<300).contains(response.status) else {
                throw .refused(status: response.status, message: Self.message(response))
            }
            return response
        }
    }

    /// The cached token and endpoint, logging in to Keystone first when there is none or it
    /// expires within a minute.
    private func currentSession() async throws(NovaError) -> Session {
        if let current = session.withLock({ $0 }), current.expiresAt.map({ $0.timeIntervalSinceNow > 60 }) ?? true {
            return current
        }
        guard case .password(let keystone) = settings.auth else {
            throw .authentication("auth = token needs [nova] endpoint")
        }
        let fresh = try await login(keystone)
        session.withLock { $0 = fresh }
        return fresh
    }

    private func login(_ keystone: AutoHealConfig.Nova.Keystone) async throws(NovaError) -> Session {
        let body = KeystoneLogin.body(keystone)
        var request = HTTPRequest(
            method: "POST", url: KeystoneLogin.tokensURL(keystone.authURL),
            headers: [("Content-Type", "application/json"), ("Accept", "application/json")],
            body: body.encoded,
            timeout: .seconds(settings.timeoutSeconds), connectTimeout: .seconds(5), tls: tls, keepHeaders: ["x-subject-token"])
        request.maxResponseBytes = 4 << 20
        let response: HTTPResponse
        do {
            response = try await http.execute(request)
        } catch {
            throw .unreachable("Keystone \(keystone.authURL): \(error)")
        }
        guard response.status == 201 || response.status == 200 else {
            throw .authentication("login as \(keystone.username) answered \(response.status): \(Self.message(response))")
        }
        guard let token = response.headers["x-subject-token"], !token.isEmpty else {
            throw .authentication("login answered without an X-Subject-Token header")
        }
        let answer = try KeystoneLogin.parse(response.body, keystone: keystone)
        guard let endpoint = settings.endpoint ?? answer.endpoint else {
            throw .authentication(
                "no compute endpoint for interface \(keystone.interface)\(keystone.regionName.map { " in region \($0)" } ?? "") in the catalog; set [nova] endpoint"
            )
        }
        guard endpoint.isHTTPURL else {
            throw .authentication(
                "the catalog's compute endpoint \"\(endpoint)\" is not an http:// or https:// URL; set [nova] endpoint")
        }
        return Session(token: token, endpoint: endpoint, expiresAt: answer.expiresAt)
    }

    private func decode<T: Decodable>(_ type: T.Type, _ response: HTTPResponse) throws(NovaError) -> T {
        do {
            return try JSONInput.decode(type, from: Data(response.body))
        } catch {
            throw .badResponse("\(error) in \(response.bodyText.prefix(300))")
        }
    }

    /// Nova's `{"badRequest": {"message": …}}`-style error, or the start of the body.
    static func message(_ response: HTTPResponse) -> String {
        struct Fault: Decodable { var message: String? }
        if let faults = try? JSONInput.decode([String: Fault].self, from: Data(response.body)),
            let message = faults.values.lazy.compactMap(\.message).first
        {
            return message
        }
        return String(response.bodyText.prefix(500))
    }

    private func escape(_ text: String) -> String { PercentEncoding.encoded(text) }
}

/// The Keystone v3 password login: the request body, and the token's expiry and compute
/// endpoint read from the answer.
public enum KeystoneLogin {
    /// `{auth_url}/auth/tokens`, with `/v3` added when the URL has no version.
    public static func tokensURL(_ authURL: String) -> String {
        let base = authURL.trimmingSuffix("/")
        return (base.hasSuffix("/v3") ? base : base + "/v3") + "/auth/tokens"
    }

    public static func body(_ k: AutoHealConfig.Nova.Keystone) -> JSONValue {
        [
            "auth": [
                "identity": [
                    "methods": ["password"],
                    "password": [
                        "user": [
                            "name": .string(k.username), "domain": ["name": .string(k.userDomainName)], "password": .string(k.password),
                        ]
                    ],
                ],
                "scope": ["project": ["name": .string(k.projectName), "domain": ["name": .string(k.projectDomainName)]]],
            ]
        ]
    }

    /// The token's expiry and the compute endpoint of the catalog for the interface and region.
    public static func parse(_ body: [UInt8], keystone: AutoHealConfig.Nova.Keystone) throws(NovaError) -> (
        expiresAt: Date?, endpoint: String?
    ) {
        struct Answer: Decodable {
            struct Token: Decodable {
                var expires_at: String?
                var catalog: [Service]?
            }
            struct Service: Decodable {
                var type: String
                var endpoints: [Endpoint]
            }
            struct Endpoint: Decodable {
                var interface: String
                var region: String?
                var region_id: String?
                var url: String
            }
            var token: Token
        }
        let answer: Answer
        do {
            answer = try JSONInput.decode(Answer.self, from: Data(body))
        } catch {
            throw .authentication("unreadable token answer: \(error)")
        }
        let endpoint = answer.token.catalog?.first { $0.type == "compute" }?.endpoints.first { e in
            e.interface == keystone.interface && (keystone.regionName.map { $0 == e.region || $0 == e.region_id } ?? true)
        }?.url
        return (answer.token.expires_at.flatMap(Envelope.parseDate), endpoint)
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        var text = self
        while text.hasSuffix(suffix) { text.removeLast(suffix.count) }
        return text
    }
}
