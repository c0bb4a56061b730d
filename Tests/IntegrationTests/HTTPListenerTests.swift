import AutoHealTestSupport
import Glibc
import HTTP
import Testing

@testable import Telemetry

/// The server of `/metrics` and `/healthz`, over real loopback sockets: asked by libcurl (what
/// Prometheus and `autoheal healthz` do) and by raw sockets that misbehave.
@Suite struct HTTPListenerTests {
    static let http = HTTPClient(name: "listener-test")

    /// A listener on a free loopback port answering `/ok` (and 404 elsewhere).
    static func listener(maxConnections: Int = 4, deadline: Double = 5) throws -> HTTPListener {
        let listener = try HTTPListener(host: "127.0.0.1", port: 0, maxConnections: maxConnections, deadline: deadline)
        listener.start(name: "listener-test") { request in
            request.path == "/ok"
                ? .init(status: 200, body: Array("fine \(request.method.rawValue)\n".utf8))
                : .init(status: 404, body: Array("no\n".utf8))
        }
        return listener
    }

    /// A raw TCP connection to the listener.
    final class RawClient {
        let fd: Int32
        init(port: Int) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(port).bigEndian
            address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            try #require(connected == 0)
        }
        deinit { close(fd) }

        func send(_ text: String) { _ = Array(text.utf8).withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) } }

        /// Everything until the server closes, or nil when it has not closed within `seconds`.
        func readToClose(within seconds: Int32) -> String? {
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, seconds * 1000) > 0 else { return nil }
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return String(decoding: received, as: UTF8.self) }
                received += buffer[..<n]
            }
        }
    }

    @Test func requestLinesAreReadOrRefused() throws {
        func parse(_ text: String) -> Result<HTTPListener.Request, HTTPListener.Refusal> { HTTPListener.parse(Array(text.utf8)) }
        #expect(try parse("GET /metrics?name=x HTTP/1.1\r\nHost: a\r\n\r\n").get() == .init(method: .get, path: "/metrics"))
        #expect(try parse("HEAD /healthz HTTP/1.0\n\n").get() == .init(method: .head, path: "/healthz"))
        #expect(throws: HTTPListener.Refusal.methodNotAllowed) { try parse("POST /metrics HTTP/1.1\r\n\r\n").get() }
        for bad in [
            "GET /metrics\r\n\r\n", "GET metrics HTTP/1.1\r\n\r\n", "GET /metrics HTTP/2.0\r\n\r\n", "GET  /x HTTP/1.1\r\n\r\n", "\r\n\r\n",
        ] {
            #expect(throws: HTTPListener.Refusal.malformed, "\(bad.debugDescription)") { try parse(bad).get() }
        }
        #expect(HTTPListener.headEnd(Array("GET / HTTP/1.1\r\nA: b\r\n".utf8)) == nil)
        #expect(HTTPListener.headEnd(Array("GET / HTTP/1.1\r\n\r\nrest".utf8)) == 18)
    }

    @Test func answersLibcurlWithStatusLengthAndBody() async throws {
        let listener = try Self.listener()
        defer { listener.stop() }
        let base = "http://127.0.0.1:\(listener.port)"
        let ok = try await Self.http.execute(HTTPRequest(url: base + "/ok?x=1", keepHeaders: ["content-length", "connection"]))
        #expect(ok.status == 200)
        #expect(String(decoding: ok.body, as: UTF8.self) == "fine GET\n")
        #expect(ok.headers["content-length"] == "9")
        #expect(ok.headers["connection"] == "close")
        let head = try await Self.http.execute(HTTPRequest(method: "HEAD", url: base + "/ok"))
        #expect(head.status == 200 && head.body.isEmpty)
        #expect(try await Self.http.execute(HTTPRequest(url: base + "/elsewhere")).status == 404)
        let post = try await Self.http.execute(HTTPRequest(method: "POST", url: base + "/ok", body: [1], keepHeaders: ["allow"]))
        #expect(post.status == 405)
        #expect(post.headers["allow"] == "GET, HEAD")
    }

    @Test func aClientThatStallsIsClosedAtTheDeadlineAndDelaysNoOne() async throws {
        let listener = try Self.listener(deadline: 1)
        defer { listener.stop() }
        let stalled = try RawClient(port: listener.port)
        stalled.send("GET /ok HTTP/1.1\r\n")  // and never the blank line
        // Another client is answered while the first one holds its connection.
        let answer = try await Self.http.execute(HTTPRequest(url: "http://127.0.0.1:\(listener.port)/ok", timeout: .seconds(3)))
        #expect(answer.status == 200)
        // The stalled one is closed, without an answer, once its deadline has passed.
        #expect(stalled.readToClose(within: 5) == "")
    }

    @Test func connectionsOverTheLimitAreClosedAtOnce() throws {
        let listener = try Self.listener(maxConnections: 2, deadline: 10)
        defer { listener.stop() }
        let held = try (0..<2).map { _ in try RawClient(port: listener.port) }
        // Accepted in the order they came: the two held ones are admitted, the third is closed.
        let extra = try RawClient(port: listener.port)
        #expect(extra.readToClose(within: 5) == "")
        // An admitted connection is still served.
        held[0].send("GET /ok HTTP/1.1\r\n\r\n")
        #expect(held[0].readToClose(within: 5)?.hasPrefix("HTTP/1.1 200 OK\r\n") == true)
    }

    @Test func badRequestsGetAnErrorStatus() throws {
        let listener = try Self.listener()
        defer { listener.stop() }
        let garbage = try RawClient(port: listener.port)
        garbage.send("\u{16}\u{03}\u{01} not http\r\n\r\n")
        #expect(garbage.readToClose(within: 5)?.hasPrefix("HTTP/1.1 400 Bad Request\r\n") == true)
        let huge = try RawClient(port: listener.port)
        huge.send("GET /ok HTTP/1.1\r\n" + String(repeating: "X-Filler: 0123456789\r\n", count: 500))
        #expect(huge.readToClose(within: 5)?.hasPrefix("HTTP/1.1 431 ") == true)
    }

    @Test func aStoppedListenerRefusesConnections() async throws {
        let listener = try Self.listener()
        let url = "http://127.0.0.1:\(listener.port)/ok"
        #expect(try await Self.http.execute(HTTPRequest(url: url)).status == 200)
        listener.stop()
        try await waitUntil("the port to refuse connections", timeout: .seconds(5)) {
            (try? await Self.http.execute(HTTPRequest(url: url, timeout: .seconds(1)))) == nil
        }
    }

    @Test func anAddressThatIsNotAnIPIsAClearError() {
        #expect(throws: HTTPListener.ListenError.self) { try HTTPListener(host: "localhost", port: 0) }
        do {
            _ = try HTTPListener(host: "metrics.example", port: 9100)
        } catch {
            #expect(error.description.contains("metrics.example:9100 is not an IP address"))
        }
    }
}
