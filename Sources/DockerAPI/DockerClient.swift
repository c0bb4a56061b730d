import AutoHealCore
import CoreMetrics
import FoundationEssentials
import HTTP

/// Typed calls to one host's Docker Engine API, over TCP or a unix socket.
///
/// The API version is negotiated on first use from `GET /version`: the daemon's version,
/// capped at the newest this client knows, so old (1.41) and new daemons both work.
/// Every call has a deadline; a call that waits on a container stop gets the stop
/// timeout on top of it.
public final class DockerClient: Sendable {
    /// The newest Engine API version whose answers this client was written against.
    public static let newestKnownAPIVersion = "1.47"

    public let host: String
    public let address: DockerHostAddress
    private let http: HTTPClient
    private let timeout: Duration
    private let connectTimeout: Duration
    private let tls: HTTPTLSSettings?
    private let inFlight: RequestLimiter
    private let reachability: Gauge
    /// When the last request to this host found it unreachable or silent, and how.
    private let lastTransportFailure = Locked<(at: ContinuousClock.Instant, failure: SendFailure)?>(nil)
    private let negotiatedVersion = Locked<String?>(nil)
    private let negotiation = Locked<Task<Result<String, DockerError>, Never>?>(nil)

    /// - Parameters:
    ///   - host: the name used in messages (as written in the config).
    ///   - timeout: deadline for a call that does not wait on a container stop.
    ///   - connectTimeout: deadline for opening the connection, so an unreachable host fails fast.
    ///   - tls: for a TCP host, talk https with these certificates (dockerd `--tlsverify`);
    ///     the host's name or IP must match its daemon's certificate.
    ///   - maxInFlight: requests to this host at once; more wait their turn (the wait counts
    ///     against nothing: each request's deadline starts when it is sent).
    public init(
        host: String, address: DockerHostAddress, http: HTTPClient, timeout: Duration = .seconds(10),
        connectTimeout: Duration = .seconds(3), tls: HTTPTLSSettings? = nil, maxInFlight: Int = 8
    ) {
        self.host = host
        self.tls = tls
        self.connectTimeout = connectTimeout
        self.inFlight = RequestLimiter(limit: maxInFlight)
        self.reachability = HealMetrics.dockerHostReachability(host)
        self.address = address
        self.http = http
        self.timeout = timeout
    }

    // MARK: - Calls

    /// `GET /version`: the daemon's version and API version.
    public func version() async throws(DockerError) -> DockerVersion {
        let response = try await send("GET", "/version", versioned: false)
        guard response.status == 200 else { throw refusal(response) }
        return try decode(DockerVersion.self, response)
    }

    /// `GET /containers/{name}/json`.
    public func inspectContainer(_ name: String) async throws(DockerError) -> ContainerDetails {
        let response = try await send("GET", "/containers/\(escape(name))/json")
        switch response.status {
        case 200: return try decode(ContainerDetails.self, response)
        case 404: throw .noSuchContainer(host: host, container: name)
        default: throw refusal(response)
        }
    }

    /// `POST /containers/{name}/start`. Already running (304) counts as done.
    public func startContainer(_ name: String) async throws(DockerError) {
        let response = try await send("POST", "/containers/\(escape(name))/start")
        try expectNoContent(response, container: name, alsoAccept: [304])
    }

    /// `POST /containers/{name}/restart?t=stopTimeout`. The deadline is the stop timeout
    /// plus the normal one, so a slow stop is not reported as a failed restart.
    public func restartContainer(_ name: String, stopTimeout: Int) async throws(DockerError) {
        let response = try await send(
            "POST", "/containers/\(escape(name))/restart?t=\(stopTimeout)",
            timeout: timeout + .seconds(stopTimeout))
        try expectNoContent(response, container: name)
    }

    /// `POST /containers/{name}/unpause`.
    public func unpauseContainer(_ name: String) async throws(DockerError) {
        let response = try await send("POST", "/containers/\(escape(name))/unpause")
        try expectNoContent(response, container: name)
    }

    /// Runs a command in a running container (`POST /containers/{name}/exec`, then
    /// `POST /exec/{id}/start`, then `GET /exec/{id}/json` for the exit code) and returns its
    /// exit code, stdout and stderr.
    ///
    /// A command that does not finish within `timeout` is reported as ``DockerError/execTimedOut(host:container:command:after:)``
    /// (Docker cannot kill it; it may still be running in the container); output beyond
    /// `maxOutputBytes` fails the call rather than being cut silently.
    public func exec(
        _ container: String, command: [String], timeout: Duration, maxOutputBytes: Int = 4 << 20
    ) async throws(DockerError) -> ExecResult {
        let clock = ContinuousClock()
        let started = clock.now
        let id = try await createExec(container, command: command)

        let stream: HTTPResponse
        do {
            stream = try await sendRaw(
                "POST", "/exec/\(id)/start", body: json(ExecStart()), timeout: timeout,
                maxResponseBytes: maxOutputBytes + maxOutputBytes / 8 + 4096)
        } catch {
            switch error {
            case .timedOut:
                throw .execTimedOut(host: host, container: container, command: command.joined(separator: " "), after: timeout)
            case .responseTooLarge:
                throw .badResponse(
                    host: host, detail: "output of `\(command.joined(separator: " "))` in \(container) is over \(maxOutputBytes) bytes")
            case .unreachable(let d): throw .unreachable(host: host, detail: d)
            case .docker(let e): throw e
            case .other(let d): throw .unreachable(host: host, detail: d)
            }
        }
        guard stream.status == 200 else {
            if stream.status == 409 { throw .refused(host: host, status: 409, message: "container \(container) is not running") }
            throw refusal(stream)
        }
        let (stdout, stderr): ([UInt8], [UInt8])
        do {
            (stdout, stderr) = try ExecStreamDemultiplexer.split(stream.body)
        } catch {
            throw .badResponse(host: host, detail: "exec output stream of `\(command.joined(separator: " "))`: \(error)")
        }

        // The stream ends when the command exits; the exit code may lag a moment behind.
        struct Inspect: Decodable {
            var Running: Bool
            var ExitCode: Int?
        }
        let deadline = clock.now + .seconds(5)
        while true {
            let response = try await send("GET", "/exec/\(id)/json")
            guard response.status == 200 else { throw refusal(response) }
            let state = try decode(Inspect.self, response)
            if !state.Running, let code = state.ExitCode {
                return ExecResult(
                    exitCode: code, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self),
                    duration: clock.now - started)
            }
            if clock.now >= deadline {
                throw .badResponse(host: host, detail: "exec of `\(command.joined(separator: " "))` ended its output but has no exit code")
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// `GET /events` for the containers named `containers` and the actions `actions`
    /// (`die`, `oom`, `health_status`…), from `since` (Docker replays what it still keeps) or
    /// from now. The stream lasts until the connection ends: it finishes when Docker closes it
    /// and throws the transport error when it breaks. Ending the iteration closes it.
    public func events(
        containers: [String], actions: [String], since: DockerTimestamp? = nil
    ) async throws(DockerError) -> AsyncThrowingStream<DockerEventItem, any Error> {
        let filters = String(decoding: json(EventFilters(event: actions, container: containers)), as: UTF8.self)
        var query = "filters=" + PercentEncoding.encoded(filters)
        if let since { query += "&since=\(since)" }
        let request = try await makeRequest("GET", "/events?" + query, timeout: .zero)
        return decoded(http.stream(request), with: DockerEventDecoder()) { decoder, chunk in decoder.items(in: chunk) }
    }

    /// Runs a command that does not end by itself (`virsh event --loop`) in a container and
    /// hands out its output line by line as it comes. The stream finishes when the command
    /// exits and throws when the connection breaks; ending the iteration closes it (the
    /// command then ends with a broken pipe at its next line).
    public func execLines(_ container: String, command: [String]) async throws(DockerError) -> AsyncThrowingStream<
        ExecLineDecoder.Line, any Error
    > {
        let id = try await createExec(container, command: command)
        var request = try await makeRequest("POST", "/exec/\(id)/start", timeout: .zero)
        request.body = json(ExecStart())
        request.headers.append(("Content-Type", "application/json"))
        return decoded(http.stream(request), with: ExecLineDecoder()) { decoder, chunk in try decoder.lines(in: chunk) }
    }

    /// `POST /containers/{name}/exec` (stdout and stderr attached, no TTY); returns the exec's id.
    private func createExec(_ container: String, command: [String]) async throws(DockerError) -> String {
        let create = try await send(
            "POST", "/containers/\(escape(container))/exec",
            body: json(ExecCreate(command: command)))
        switch create.status {
        case 201: break
        case 404: throw .noSuchContainer(host: host, container: container)
        default: throw refusal(create)
        }
        struct Created: Decodable { var Id: String }
        return try decode(Created.self, create).Id
    }

    /// A streamed response turned into items by `decode`, with the transport's errors as
    /// ``DockerError``s of this host.
    private func decoded<Decoder: Sendable, Item: Sendable>(
        _ chunks: AsyncThrowingStream<[UInt8], any Error>, with decoder: Decoder,
        _ decode: @escaping @Sendable (inout Decoder, [UInt8]) throws -> [Item]
    ) -> AsyncThrowingStream<Item, any Error> {
        let host = self.host
        return AsyncThrowingStream { continuation in
            let task = Task {
                var decoder = decoder
                do {
                    for try await chunk in chunks {
                        for item in try decode(&decoder, chunk) { continuation.yield(item) }
                    }
                    continuation.finish()
                } catch let error as HTTPError {
                    switch error {
                    case .status(let code, let body):
                        continuation.finish(throwing: DockerError.refused(host: host, status: code, message: body))
                    case .timedOut(let d): continuation.finish(throwing: DockerError.timedOut(host: host, detail: d))
                    default: continuation.finish(throwing: DockerError.unreachable(host: host, detail: error.description))
                    }
                } catch {
                    continuation.finish(throwing: DockerError.badResponse(host: host, detail: "\(error)"))
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    // MARK: - Plumbing

    /// A request to this host for `path` (under the negotiated API version when `versioned`).
    private func makeRequest(
        _ method: String, _ path: String, versioned: Bool = true, timeout: Duration
    ) async throws(DockerError) -> HTTPRequest {
        let prefix = versioned ? "/v" + (try await apiVersion()) : ""
        var request = HTTPRequest(method: method, url: "", timeout: timeout, connectTimeout: connectTimeout)
        switch address {
        case .tcp(let h, let port):
            let hostPart = h.contains(":") ? "[\(h)]" : h
            request.url = "\(tls == nil ? "http" : "https")://\(hostPart):\(port)\(prefix)\(path)"
            request.tls = tls
        case .unix(let socket):
            request.url = "http://localhost\(prefix)\(path)"
            request.unixSocketPath = socket
        }
        return request
    }

    /// A request body (``ExecCreate``, ``ExecStart``) or filter: only strings, booleans and
    /// string arrays, which encoding cannot fail on.
    private func json(_ value: some Encodable) -> [UInt8] {
        Array(try! JSONEncoder().encode(value))
    }

    private func expectNoContent(_ response: HTTPResponse, container: String, alsoAccept: Set<Int> = []) throws(DockerError) {
        if response.status == 204 || alsoAccept.contains(response.status) { return }
        if response.status == 404 { throw .noSuchContainer(host: host, container: container) }
        throw refusal(response)
    }

    private func refusal(_ response: HTTPResponse) -> DockerError {
        struct Message: Decodable { var message: String }
        let message =
            (try? JSONInput.decode(Message.self, from: Data(response.body)))?.message
            ?? String(response.bodyText.prefix(300))
        return .refused(host: host, status: response.status, message: message)
    }

    private func decode<T: Decodable>(_ type: T.Type, _ response: HTTPResponse) throws(DockerError) -> T {
        do {
            return try JSONInput.decode(T.self, from: Data(response.body))
        } catch {
            throw .badResponse(host: host, detail: "cannot read \(T.self) from \(response.body.count) bytes: \(error)")
        }
    }

    private func escape(_ name: String) -> String { PercentEncoding.encoded(name) }

    /// The API version prefix to use, asking the daemon once: concurrent first calls share
    /// one `GET /version`; a failed one is asked again by the next call.
    private func apiVersion() async throws(DockerError) -> String {
        if let known = negotiatedVersion.withLock({ $0 }) { return known }
        let task = negotiation.withLock { running -> Task<Result<String, DockerError>, Never> in
            if let running { return running }
            let task = Task { () -> Result<String, DockerError> in
                do throws(DockerError) {
                    let daemon = try await self.version()
                    return .success(DockerVersion.older(daemon.apiVersion, Self.newestKnownAPIVersion))
                } catch {
                    return .failure(error)
                }
            }
            running = task
            return task
        }
        let result = await task.value
        negotiation.withLock { if $0 == task { $0 = nil } }
        let chosen = try result.get()
        negotiatedVersion.withLock { $0 = chosen }
        return chosen
    }

    func send(
        _ method: String, _ path: String, body: [UInt8]? = nil, versioned: Bool = true, timeout: Duration? = nil
    ) async throws(DockerError) -> HTTPResponse {
        do {
            let response = try await sendRaw(method, path, body: body, versioned: versioned, timeout: timeout)
            reachability.record(1)
            return response
        } catch {
            if case .docker = error {} else { reachability.record(0) }
            switch error {
            case .timedOut(let d): throw .timedOut(host: host, detail: d)
            case .unreachable(let d): throw .unreachable(host: host, detail: d)
            case .docker(let e): throw e
            default: throw .unreachable(host: host, detail: error.description)
            }
        }
    }

    /// Transport failures, before they are turned into ``DockerError``s.
    enum SendFailure: Error, CustomStringConvertible {
        case timedOut(String)
        case unreachable(String)
        case responseTooLarge
        case docker(DockerError)
        case other(String)

        var isOther: Bool { if case .other = self { true } else { false } }

        var description: String {
            switch self {
            case .timedOut(let d), .unreachable(let d), .other(let d): d
            case .responseTooLarge: "response too large"
            case .docker(let e): e.description
            }
        }
    }

    private func sendRaw(
        _ method: String, _ path: String, body: [UInt8]? = nil, versioned: Bool = true, timeout: Duration? = nil,
        maxResponseBytes: Int = 8 << 20
    ) async throws(SendFailure) -> HTTPResponse {
        var request: HTTPRequest
        do {
            request = try await makeRequest(method, path, versioned: versioned, timeout: timeout ?? self.timeout)
        } catch {
            throw .docker(error)
        }
        request.maxResponseBytes = maxResponseBytes
        if let body {
            request.body = body
            request.headers.append(("Content-Type", "application/json"))
        }
        let queued = ContinuousClock.now
        guard await inFlight.acquire() else { throw .docker(.cancelled(host: host)) }
        defer { inFlight.release() }
        // A request that waited its turn behind one that found the host unreachable or
        // silent fails the same way at once: one dead host costs a sweep one deadline, not one
        // per container.
        if let last = lastTransportFailure.withLock({ $0 }), last.at > queued { throw last.failure }
        do {
            return try await http.execute(request)
        } catch {
            let failure: SendFailure
            switch error {
            case .timedOut(let d): failure = .timedOut(d)
            case .unreachable(let d): failure = .unreachable(d)
            case .responseTooLarge: throw .responseTooLarge
            default: failure = .other(error.description)
            }
            // Only a call with the normal deadline says the host is gone: a long exec or a
            // restart running out of time says something about the command or the container.
            if request.timeout <= self.timeout, !(failure.isOther) {
                lastTransportFailure.withLock { $0 = (.now, failure) }
            }
            throw failure
        }
    }
}

/// `GET /events`'s `filters`: container events of these actions and containers.
private struct EventFilters: Encodable {
    var type = ["container"]
    var event: [String]
    var container: [String]
}

/// `POST /containers/{name}/exec`: stdout and stderr attached, no stdin, no TTY.
private struct ExecCreate: Encodable {
    var command: [String]
    var attachStdout = true
    var attachStderr = true
    var attachStdin = false
    var tty = false

    enum CodingKeys: String, CodingKey {
        case command = "Cmd"
        case attachStdout = "AttachStdout"
        case attachStderr = "AttachStderr"
        case attachStdin = "AttachStdin"
        case tty = "Tty"
    }
}

/// `POST /exec/{id}/start`: attached, no TTY.
private struct ExecStart: Encodable {
    var detach = false
    var tty = false

    enum CodingKeys: String, CodingKey {
        case detach = "Detach"
        case tty = "Tty"
    }
}
