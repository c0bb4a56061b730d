import AutoHealCore
import Dispatch
import Glibc

/// The HTTP server of `/metrics` and `/healthz`: HTTP/1.x `GET` and `HEAD`, one request per
/// connection, answered and closed (what Prometheus, curl and a health check send).
///
/// Written here rather than taken from a library: FlyingFox, used before, imports Foundation
/// and FoundationNetworking, which loaded about 7 MB into the monitor that nothing else in
/// it needs (BENCHMARKS.md). Two read-only routes need this much and no more.
///
/// Each connection gets a thread of its own (``OSThread``), at most ``maxConnections`` at
/// once (more are closed at once), and ``deadline`` to send its request and read the answer:
/// a client that stalls holds only its own thread, and only for that long.
final class HTTPListener: Sendable {
    struct Request: Sendable, Equatable {
        enum Method: String, Sendable {
            case get = "GET"
            case head = "HEAD"
        }
        var method: Method
        /// The path without its query.
        var path: String
    }

    struct Response: Sendable {
        var status: Int
        var contentType = "text/plain; charset=utf-8"
        var body: [UInt8]
    }

    /// Why a request is answered with an error and not given to the handler.
    enum Refusal: Error, Equatable {
        case malformed, methodNotAllowed, tooLarge

        var response: Response {
            switch self {
            case .malformed: Response(status: 400, body: Array("bad request\n".utf8))
            case .methodNotAllowed: Response(status: 405, body: Array("only GET and HEAD\n".utf8))
            case .tooLarge: Response(status: 431, body: Array("request header too large\n".utf8))
            }
        }
    }

    struct ListenError: Error, CustomStringConvertible {
        var description: String
    }

    typealias Handler = @Sendable (Request) async -> Response

    static let maxRequestBytes = 8192
    let maxConnections: Int
    let deadline: Double
    /// The port listened on (the one the system chose, when asked for 0).
    let port: Int
    private let socket: Int32
    private let state = Locked<(stopping: Bool, connections: Int)>((false, 0))

    /// Binds and listens on `host` (an IPv4 or IPv6 address) and `port` (0: any free port).
    init(host: String, port: Int, maxConnections: Int = 4, deadline: Double = 5) throws(ListenError) {
        self.maxConnections = maxConnections
        self.deadline = deadline
        let v6 = host.contains(":")
        var storage = sockaddr_storage()
        let length: Int
        let parsed = withUnsafeMutableBytes(of: &storage) { raw -> Bool in
            if v6 {
                let address = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self)
                address.pointee.sin6_family = sa_family_t(AF_INET6)
                address.pointee.sin6_port = UInt16(port).bigEndian
                return inet_pton(AF_INET6, host, &address.pointee.sin6_addr) == 1
            }
            let address = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in.self)
            address.pointee.sin_family = sa_family_t(AF_INET)
            address.pointee.sin_port = UInt16(port).bigEndian
            return inet_pton(AF_INET, host, &address.pointee.sin_addr) == 1
        }
        guard parsed, (0...65535).contains(port) else { throw ListenError(description: "\(host):\(port) is not an IP address and port") }
        length = v6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size
        let fd = Glibc.socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ListenError(description: "socket: \(String(cString: strerror(errno)))") }
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(length)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ListenError(description: "cannot listen on \(host):\(port): \(reason)")
        }
        socket = fd
        var local = sockaddr_storage()
        var localLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &localLength) }
        }
        // The port is at the same offset in sockaddr_in and sockaddr_in6.
        self.port = withUnsafeBytes(of: &local) { Int(UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self))) }
    }

    /// Serves on a thread of its own until ``stop()``.
    func start(name: String, handler: @escaping Handler) {
        OSThread.start(name: name) { [self] in acceptLoop(handler) }
    }

    /// Stops accepting: the accept loop ends and closes the socket; a request being answered
    /// is finished.
    func stop() {
        let first = state.withLock { state in
            defer { state.stopping = true }
            return !state.stopping
        }
        // Wakes the blocked accept(2); the loop's thread closes the descriptor.
        if first { shutdown(socket, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop(_ handler: @escaping Handler) {
        defer { close(socket) }
        while true {
            let client = accept(socket, nil, nil)
            if state.withLock({ $0.stopping }) {
                if client >= 0 { close(client) }
                return
            }
            guard client >= 0 else {
                if errno == EINTR || errno == ECONNABORTED { continue }
                OSThread.sleep(seconds: 0.1)  // out of descriptors: wait, do not spin
                continue
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            let admitted = state.withLock { state in
                guard state.connections < maxConnections else { return false }
                state.connections += 1
                return true
            }
            guard admitted else {
                close(client)
                continue
            }
            OSThread.start(name: "http-conn") { [self] in
                serve(client, handler)
                state.withLock { $0.connections -= 1 }
            }
        }
    }

    private func serve(_ client: Int32, _ handler: @escaping Handler) {
        defer { close(client) }
        let until = DispatchTime.now().uptimeNanoseconds + UInt64(deadline * 1e9)
        let response: Response
        var head = false
        switch readRequest(client, until: until) {
        case nil: return  // closed or too slow: nobody to answer
        case .failure(let refusal): response = refusal.response
        case .success(let request):
            head = request.method == .head
            // This thread is ours, not one of the cooperative pool's.
            response = OSThread.waitForTask { await handler(request) }
        }
        let text =
            "HTTP/1.1 \(response.status) \(Self.reason(response.status))\r\nContent-Type: \(response.contentType)\r\n"
            + (response.status == 405 ? "Allow: GET, HEAD\r\n" : "")
            + "Content-Length: \(response.body.count)\r\nConnection: close\r\n\r\n"
        if write(client, Array(text.utf8), until: until), !head { _ = write(client, response.body, until: until) }
    }

    /// The request's head, read until its blank line; nil when the client closes or stalls.
    private func readRequest(_ client: Int32, until: UInt64) -> Result<Request, Refusal>? {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 2048)
        while Self.headEnd(bytes) == nil {
            guard bytes.count < Self.maxRequestBytes else { return .failure(.tooLarge) }
            guard wait(client, for: Int16(POLLIN), until: until) else { return nil }
            let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            bytes += buffer[..<n]
        }
        return Self.parse(bytes)
    }

    /// Reads the request line of a head (`GET /metrics?x=1 HTTP/1.1`).
    static func parse(_ bytes: [UInt8]) -> Result<Request, Refusal> {
        let end = bytes.firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
        var line = bytes[..<end]
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, parts[1].first == UInt8(ascii: "/"), parts[2].starts(with: Array("HTTP/1.".utf8)) else {
            return .failure(.malformed)
        }
        guard let method = Request.Method(rawValue: String(decoding: parts[0], as: UTF8.self)) else {
            return .failure(.methodNotAllowed)
        }
        let target = parts[1]
        let path = target[..<(target.firstIndex(of: UInt8(ascii: "?")) ?? target.endIndex)]
        return .success(Request(method: method, path: String(decoding: path, as: UTF8.self)))
    }

    /// Where the head's blank line ends, if it has come.
    static func headEnd(_ bytes: [UInt8]) -> Int? {
        var newlines = 0
        for (i, byte) in bytes.enumerated() {
            if byte == UInt8(ascii: "\n") {
                newlines += 1
                if newlines == 2 { return i + 1 }
            } else if byte != UInt8(ascii: "\r") {
                newlines = 0
            }
        }
        return nil
    }

    private func write(_ client: Int32, _ bytes: [UInt8], until: UInt64) -> Bool {
        var sent = 0
        while sent < bytes.count {
            guard wait(client, for: Int16(POLLOUT), until: until) else { return false }
            let n = bytes.withUnsafeBytes { send(client, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            sent += n
        }
        return true
    }

    /// Waits until `client` is ready for `events`, or the deadline passes.
    private func wait(_ client: Int32, for events: Int16, until: UInt64) -> Bool {
        while true {
            let now = DispatchTime.now().uptimeNanoseconds
            guard now < until else { return false }
            var poller = pollfd(fd: client, events: events, revents: 0)
            let ready = poll(&poller, 1, Int32(min((until - now) / 1_000_000 + 1, 60_000)))
            if ready < 0 && errno == EINTR { continue }
            return ready > 0
        }
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 431: "Request Header Fields Too Large"
        case 503: "Service Unavailable"
        default: "Status"
        }
    }
}
