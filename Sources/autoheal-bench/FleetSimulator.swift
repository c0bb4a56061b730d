import Locking
import CEpoll
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A simulated fleet of Docker hosts on loopback ports: each speaks the subset of the
/// Docker Engine API the healer uses (`GET /version`, `GET /_ping`,
/// `GET /v*/containers/{name}/json`, `POST …/start|restart|unpause`, and `GET /v*/events`,
/// which it holds open without a word), with a fixed delay per answer.
///
/// Host `i` listens on 127.0.0.1:`basePort + i`. A share of hosts is *unreachable* (nothing
/// listens: connections are refused) and a share is *silent* (the port accepts connections,
/// and nothing ever answers). Every container is running and healthy. One thread, epoll.
final class FleetSimulator: @unchecked Sendable {
    enum Kind { case answering, silent, unreachable }

    let basePort: Int
    let kinds: [Kind]
    let latency: Duration
    private let epollFD: Int32
    private var listeners: [Int32: Int] = [:]  // listening fd → host index
    private var silentFDs: [Int32] = []
    private var buffers: [Int32: [UInt8]] = [:]
    private var pending = PendingAnswers()
    private let stopFD: Int32
    private var thread: Thread?
    /// Requests answered, and when the last one was.
    let answered = Atomic<Int>(0)
    /// Connections accepted and not yet closed.
    let connections = Atomic<Int>(0)
    private let lastAnswer = Locked<ContinuousClock.Instant?>(nil)

    /// - Parameters:
    ///   - unreachableShare, silentShare: fractions of the hosts (the first ones after
    ///     host 0, which always answers).
    init(hosts: Int, basePort: Int, latency: Duration, unreachableShare: Double = 0, silentShare: Double = 0) throws {
        self.basePort = basePort
        self.latency = latency
        let unreachable = Int((Double(hosts) * unreachableShare).rounded())
        let silent = Int((Double(hosts) * silentShare).rounded())
        kinds = (0..<hosts).map { i in
            if i == 0 { return .answering }
            if i <= unreachable { return .unreachable }
            if i <= unreachable + silent { return .silent }
            return .answering
        }
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        stopFD = eventfd(0, Int32(EFD_NONBLOCK))
        guard epollFD >= 0, stopFD >= 0 else { throw SimulatorError("epoll/eventfd: \(String(cString: strerror(errno)))") }
        add(stopFD)
        for (i, kind) in kinds.enumerated() where kind != .unreachable {
            let fd = try Self.listen(port: basePort + i)
            if kind == .silent {
                silentFDs.append(fd)  // listening, never accepting: the kernel completes handshakes
            } else {
                listeners[fd] = i
                add(fd)
            }
        }
    }

    struct SimulatorError: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    /// The `[hosts]` entries of the whole fleet.
    var hostEntries: [String] { kinds.indices.map { "127.0.0.1:\(basePort + $0)" } }
    var answeringHosts: Int { kinds.filter { $0 == .answering }.count }
    var lastAnswerAt: ContinuousClock.Instant? { lastAnswer.withLock { $0 } }

    func start() {
        let thread = Thread { [self] in loop() }
        thread.name = "fleet-simulator"
        thread.stackSize = 1 << 20
        self.thread = thread
        thread.start()
    }

    func stop() {
        var one: UInt64 = 1
        _ = write(stopFD, &one, 8)
    }

    // MARK: - Sockets

    private static func listen(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let ok = withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard ok, Glibc.listen(fd, 1024) == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw SimulatorError("cannot listen on 127.0.0.1:\(port): \(why)")
        }
        return fd
    }

    private func add(_ fd: Int32) {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = fd
        epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event)
    }

    private func drop(_ fd: Int32) {
        epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
        buffers.removeValue(forKey: fd)
        close(fd)
        connections.subtract(1, ordering: .relaxed)
    }

    // MARK: - The loop

    private func loop() {
        var events = [epoll_event](repeating: epoll_event(), count: 512)
        let clock = ContinuousClock()
        while true {
            var timeout: Int32 = -1
            if let next = pending.nextDeadline {
                let wait = next - clock.now
                timeout =
                    wait <= .zero
                    ? 0 : Int32(clamping: wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000 + 1)
            }
            let n = epoll_wait(epollFD, &events, Int32(events.count), timeout)
            for i in 0..<Int(max(n, 0)) {
                let fd = events[i].data.fd
                if fd == stopFD {
                    shutdownAll()
                    return
                }
                if listeners[fd] != nil {
                    acceptAll(fd)
                } else {
                    read(fd)
                }
            }
            for answer in pending.due(at: clock.now) { send(answer.bytes, to: answer.fd) }
        }
    }

    private func acceptAll(_ listener: Int32) {
        while true {
            // Close-on-exec: a daemon the bench starts later must not inherit thousands of them.
            let fd = accept(listener, nil, nil)
            if fd < 0 { return }
            connections.add(1, ordering: .relaxed)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var yes: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &yes, socklen_t(MemoryLayout<Int32>.size))
            buffers[fd] = []
            add(fd)
        }
    }

    private func read(_ fd: Int32) {
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n == 0 {
                drop(fd)
                return
            }
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK { break }
                drop(fd)
                return
            }
            buffers[fd, default: []].append(contentsOf: chunk[0..<n])
        }
        // Whole requests (no bodies bigger than their Content-Length are sent by the healer).
        while let request = takeRequest(fd) {
            guard let response = answer(request) else { continue }  // held open (events)
            if latency == .zero {
                send(response, to: fd)
            } else {
                pending.add(fd: fd, bytes: response, at: ContinuousClock.now + latency)
            }
        }
    }

    private func takeRequest(_ fd: Int32) -> (method: String, path: String)? {
        guard let buffer = buffers[fd], let end = buffer.firstRange(of: Array("\r\n\r\n".utf8)) else { return nil }
        let head = String(decoding: buffer[..<end.lowerBound], as: UTF8.self)
        var length = 0
        for line in head.split(separator: "\r\n").dropFirst() where line.lowercased().hasPrefix("content-length:") {
            length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        guard buffer.count >= end.upperBound + length else { return nil }
        buffers[fd] = Array(buffer[(end.upperBound + length)...])
        let parts = head.prefix(while: { $0 != "\r" }).split(separator: " ")
        guard parts.count >= 2 else { return ("", "") }
        return (String(parts[0]), String(parts[1]))
    }

    /// The response bytes, or nil for a request held open without an answer.
    private func answer(_ request: (method: String, path: String)) -> [UInt8]? {
        let path = request.path.split(separator: "?").first.map(String.init) ?? request.path
        let segments = path.split(separator: "/").map(String.init)
        func json(_ status: String, _ body: String) -> [UInt8] {
            Array(
                "HTTP/1.1 \(status)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nApi-Version: 1.41\r\n\r\n\(body)"
                    .utf8)
        }
        if request.method == "GET", path == "/version" {
            return json("200 OK", #"{"Version":"20.10.24-sim","ApiVersion":"1.41","MinAPIVersion":"1.12"}"#)
        }
        if path == "/_ping" { return Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK".utf8) }
        if segments.count == 2, segments[1] == "events" { return nil }
        if segments.count == 4, segments[1] == "containers" {
            let name = segments[2]
            switch (request.method, segments[3]) {
            case ("GET", "json"):
                answered.add(1, ordering: .relaxed)
                lastAnswer.withLock { $0 = .now }
                return json("200 OK", Self.inspect(name))
            case ("POST", "start"), ("POST", "restart"), ("POST", "unpause"):
                return Array("HTTP/1.1 204 No Content\r\n\r\n".utf8)
            default: break
            }
        }
        return json("404 Not Found", #"{"message":"not simulated"}"#)
    }

    private static func inspect(_ name: String) -> String {
        #"{"Id":"sim-\#(name)","Name":"/\#(name)","RestartCount":0,"State":{"Status":"running","Running":true,"Paused":false,"Restarting":false,"OOMKilled":false,"Dead":false,"Pid":4242,"ExitCode":0,"Error":"","StartedAt":"2026-01-01T00:00:00.000000000Z","FinishedAt":"0001-01-01T00:00:00Z","Health":{"Status":"healthy","FailingStreak":0,"Log":[]}}}"#
    }

    private func send(_ bytes: [UInt8], to fd: Int32) {
        guard buffers[fd] != nil else { return }  // closed meanwhile
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 {
                if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { continue }
                drop(fd)
                return
            }
            offset += n
        }
    }

    private func shutdownAll() {
        for fd in Array(buffers.keys) { close(fd) }
        for fd in listeners.keys { close(fd) }
        for fd in silentFDs { close(fd) }
        close(epollFD)
        close(stopFD)
    }
}

/// Answers waiting for their delay, earliest first (a binary heap).
struct PendingAnswers {
    struct Item {
        var deadline: ContinuousClock.Instant
        var fd: Int32
        var bytes: [UInt8]
    }

    private var heap: [Item] = []

    var nextDeadline: ContinuousClock.Instant? { heap.first?.deadline }

    mutating func add(fd: Int32, bytes: [UInt8], at deadline: ContinuousClock.Instant) {
        heap.append(Item(deadline: deadline, fd: fd, bytes: bytes))
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].deadline < heap[parent].deadline else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    mutating func due(at now: ContinuousClock.Instant) -> [Item] {
        var out: [Item] = []
        while let first = heap.first, first.deadline <= now {
            out.append(first)
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                var i = 0
                while true {
                    let l = 2 * i + 1, r = l + 1
                    var smallest = i
                    if l < heap.count && heap[l].deadline < heap[smallest].deadline { smallest = l }
                    if r < heap.count && heap[r].deadline < heap[smallest].deadline { smallest = r }
                    if smallest == i { break }
                    heap.swapAt(i, smallest)
                    i = smallest
                }
            }
        }
        return out
    }
}
