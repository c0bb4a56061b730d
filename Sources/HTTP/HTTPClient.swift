import Locking
import CCurlShim
import CEpoll
import FoundationEssentials
import Glibc

/// An HTTP client on libcurl's multi interface: every transfer runs on one dedicated
/// thread, so hundreds of requests in flight cost no cooperative-pool threads and a slow
/// host never blocks another.
///
/// Safe to share; each request honours its own deadline. Call ``shutdown()`` (or drop the
/// last reference) to stop the thread; requests still running then fail with `.cancelled`.
public final class HTTPClient: Sendable {
    private let loop: CurlMultiLoop

    /// - Parameter maxConcurrentRequests: buffered requests in curl at once; more wait in
    ///   arrival order, so a sweep of thousands of hosts does not open thousands of
    ///   connections (and walk as many in curl's connection cache) at once. Streams do not
    ///   count.
    public init(name: String = "http", maxConcurrentRequests: Int = 256) {
        _ = HTTPClient.globalInit
        loop = CurlMultiLoop(maxConcurrent: max(maxConcurrentRequests, 1))
        let loop = self.loop
        OSThread.start(name: name) { loop.run() }
    }

    /// libcurl's global init, done once before the first transfer.
    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_ALL)) }()

    /// Sends the request and waits for the whole response.
    public func execute(_ request: HTTPRequest) async throws(HTTPError) -> HTTPResponse {
        let id = loop.nextID()
        let result: Result<HTTPResponse, HTTPError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                loop.submit(id: id, request: request, sink: .buffered(continuation))
            }
        } onCancel: {
            loop.cancel(id: id)
        }
        return try result.get()
    }

    /// Opens a long-lived response (Docker's `/events`, say) and yields its body in chunks as
    /// they arrive. The request's `timeout` does not apply (the response may stay open for
    /// days); its connect timeout does, and TCP keep-alive notices a peer that went away.
    ///
    /// The stream finishes when the server closes the response, and throws an ``HTTPError``:
    /// ``HTTPError/status(_:_:)`` for a status other than 2xx (with the start of the body),
    /// or the transport error. Ending the iteration (or cancelling its task) closes the
    /// connection.
    public func stream(_ request: HTTPRequest) -> AsyncThrowingStream<[UInt8], any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: [UInt8].self, throwing: (any Error).self)
        let id = loop.nextID()
        let loop = self.loop
        continuation.onTermination = { _ in loop.cancel(id: id) }
        loop.submit(id: id, request: request, sink: .streaming(continuation))
        return stream
    }

    public func shutdown() { loop.stop() }

    deinit { loop.stop() }
}

/// The state shared between callers and the transfer thread. Everything that touches a
/// curl handle runs on that thread; callers only queue work and wake it.
///
/// curl's socket interface: curl says which sockets to watch (``watch(_:what:)``) and when
/// to call it back (``timerChanged(_:)``); the thread waits in `epoll_wait` and hands curl
/// only the sockets that are ready. `curl_multi_perform` would walk every transfer on each
/// wake-up, one `poll` per transfer: with 5,000 event streams open that was ~6,000 system
/// calls and ~60 ms of CPU per wake-up, whatever woke it.
final class CurlMultiLoop: @unchecked Sendable {
    typealias Continuation = CheckedContinuation<Result<HTTPResponse, HTTPError>, Never>

    typealias StreamContinuation = AsyncThrowingStream<[UInt8], any Error>.Continuation

    /// Where a transfer's response goes: whole, to one waiting caller, or chunk by chunk.
    enum Sink {
        case buffered(Continuation)
        case streaming(StreamContinuation)

        func fail(_ error: HTTPError) {
            switch self {
            case .buffered(let c): c.resume(returning: .failure(error))
            case .streaming(let c): c.finish(throwing: error)
            }
        }
    }

    private struct Queued {
        var id: UInt64
        var request: HTTPRequest
        var sink: Sink
    }

    private struct Shared {
        var queued: [Queued] = []
        var cancelled: [UInt64] = []
        var stopping = false
        var lastID: UInt64 = 0
    }

    /// Written once at init, then only used on the transfer thread.
    private let multi: UnsafeMutableRawPointer
    private let shared = Locked(Shared())
    private let maxConcurrent: Int
    /// The transfer thread waits on this; `wakeFD` (an eventfd) is written to wake it. Both
    /// stay open until deinit, so a late `cancel` never writes to a reused descriptor.
    private let epollFD: Int32
    private let wakeFD: Int32

    // The transfer thread's own state, changed by curl's callbacks during its calls.
    /// The sockets curl asked to watch (registered with epoll).
    private var watched: Set<Int32> = []
    /// When curl wants `CURL_SOCKET_TIMEOUT`; nil for never.
    private var timerDeadline: ContinuousClock.Instant? = nil

    init(maxConcurrent: Int) {
        multi = curl_multi_init()!
        self.maxConcurrent = maxConcurrent
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        precondition(epollFD >= 0 && wakeFD >= 0, "epoll/eventfd: \(String(cString: strerror(errno)))")
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = wakeFD
        epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event)
        cah_curl_multi_set_callbacks(
            multi,
            { _, socket, what, user, _ in
                Unmanaged<CurlMultiLoop>.fromOpaque(user!).takeUnretainedValue().watch(socket, what: what)
                return 0
            },
            { _, milliseconds, user in
                Unmanaged<CurlMultiLoop>.fromOpaque(user!).takeUnretainedValue().timerChanged(milliseconds)
                return 0
            }, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit {
        close(epollFD)
        close(wakeFD)
    }

    func nextID() -> UInt64 {
        shared.withLock {
            $0.lastID += 1
            return $0.lastID
        }
    }

    func submit(id: UInt64, request: HTTPRequest, sink: Sink) {
        let accepted = shared.withLock { s -> Bool in
            guard !s.stopping else { return false }
            s.queued.append(Queued(id: id, request: request, sink: sink))
            return true
        }
        if accepted { wake() } else { sink.fail(.cancelled) }
    }

    func cancel(id: UInt64) {
        shared.withLock { $0.cancelled.append(id) }
        wake()
    }

    func stop() {
        shared.withLock { $0.stopping = true }
        wake()
    }

    private func wake() { eventfd_write(wakeFD, 1) }

    /// curl's socket callback: watch `socket` for what curl asks (`CURL_POLL_IN`, `_OUT`,
    /// `_INOUT`), or stop (`CURL_POLL_REMOVE`).
    private func watch(_ socket: Int32, what: Int32) {
        if what == CURL_POLL_REMOVE {
            if watched.remove(socket) != nil { epoll_ctl(epollFD, EPOLL_CTL_DEL, socket, nil) }
            return
        }
        var event = epoll_event()
        event.events = (what & CURL_POLL_IN != 0 ? EPOLLIN.rawValue : 0) | (what & CURL_POLL_OUT != 0 ? EPOLLOUT.rawValue : 0)
        event.data.fd = socket
        let operation = watched.insert(socket).inserted ? EPOLL_CTL_ADD : EPOLL_CTL_MOD
        if epoll_ctl(epollFD, operation, socket, &event) != 0 {
            // A socket closed without a REMOVE leaves epoll by itself, and its number may come
            // back as a new socket: then the other operation is the right one.
            epoll_ctl(epollFD, operation == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, socket, &event)
        }
    }

    /// curl's timer callback: call it back in `milliseconds` (0: now), or never (-1).
    private func timerChanged(_ milliseconds: Int) {
        timerDeadline = milliseconds < 0 ? nil : .now + .milliseconds(milliseconds)
    }

    /// The transfer thread's loop. Returns after ``stop()``, having failed what was left.
    func run() {
        var transfers: [UInt64: Transfer] = [:]
        var waiting: [Queued] = []  // buffered requests beyond maxConcurrent, oldest first
        var waitingStart = 0
        var buffered = 0  // buffered transfers in curl now
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var running: Int32 = 0
        /// Hands finished transfers back to their callers.
        func collectDone() {
            var easy: UnsafeMutableRawPointer? = nil
            var code = CURLE_OK
            while cah_curl_multi_next_done(multi, &easy, &code) == 1, let done = easy {
                let box = Unmanaged<Transfer>.fromOpaque(cah_curl_private(done)).takeUnretainedValue()
                curl_multi_remove_handle(multi, done)
                transfers.removeValue(forKey: box.id)
                if !box.isStreaming { buffered -= 1 }
                box.finish(code: code)
            }
        }
        while true {
            let (queued, cancelled, stopping) = shared.withLock { s in
                defer {
                    s.queued.removeAll()
                    s.cancelled.removeAll()
                }
                return (s.queued, s.cancelled, s.stopping)
            }
            for item in queued {
                if case .streaming = item.sink { start(item, &transfers) } else { waiting.append(item) }
            }
            for id in cancelled {
                if let t = transfers.removeValue(forKey: id) {
                    curl_multi_remove_handle(multi, t.easy)
                    if !t.isStreaming { buffered -= 1 }
                    t.finish(.failure(.cancelled))
                } else if let i = waiting[waitingStart...].firstIndex(where: { $0.id == id }) {
                    waiting[i].sink.fail(.cancelled)
                    waiting.remove(at: i)
                }
            }
            if stopping {
                for t in transfers.values {
                    curl_multi_remove_handle(multi, t.easy)
                    t.finish(.failure(.cancelled))
                }
                for item in waiting[waitingStart...] { item.sink.fail(.cancelled) }
                curl_multi_cleanup(multi)
                return
            }
            while buffered < maxConcurrent, waitingStart < waiting.count {
                if start(waiting[waitingStart], &transfers) { buffered += 1 }
                waitingStart += 1
            }
            if waitingStart > 1024, waitingStart * 2 > waiting.count {
                waiting.removeFirst(waitingStart)
                waitingStart = 0
            }

            // curl's timer (new transfers set it to now), then what finished.
            if let deadline = timerDeadline, deadline <= .now {
                timerDeadline = nil
                curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running)
            }
            collectDone()
            // Room freed by finished transfers goes to waiting requests before sleeping.
            if buffered < maxConcurrent, waitingStart < waiting.count { continue }

            // Sleep until a socket is ready, curl's timer is due (rounded up to the next
            // millisecond, so as not to spin), or a caller wakes us.
            let timeout = timerDeadline.map { Int32(clamping: min(max(($0 - .now).milliseconds + 1, 0), 60_000)) } ?? 60_000
            let count = epoll_wait(epollFD, &events, Int32(events.count), timeout)
            for event in events.prefix(Int(max(count, 0))) {
                let fd = event.data.fd
                if fd == wakeFD {
                    var value: eventfd_t = 0
                    eventfd_read(wakeFD, &value)
                    continue
                }
                var mask: Int32 = 0
                if event.events & EPOLLIN.rawValue != 0 { mask |= CURL_CSELECT_IN }
                if event.events & EPOLLOUT.rawValue != 0 { mask |= CURL_CSELECT_OUT }
                if event.events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 { mask |= CURL_CSELECT_ERR }
                curl_multi_socket_action(multi, fd, mask, &running)
            }
            collectDone()
        }
    }

    /// Adds a request to curl; false (after failing it) if it could not be set up.
    @discardableResult
    private func start(_ item: Queued, _ transfers: inout [UInt64: Transfer]) -> Bool {
        do {
            let transfer = try Transfer(id: item.id, request: item.request, sink: item.sink)
            curl_multi_add_handle(multi, transfer.easy)
            transfers[item.id] = transfer
            return true
        } catch {
            item.sink.fail(error)
            return false
        }
    }
}

/// One request in flight: its easy handle, header list and the bytes received so far.
/// Lives on the transfer thread only.
final class Transfer {
    let id: UInt64
    let easy: UnsafeMutableRawPointer
    private var headerList: UnsafeMutablePointer<curl_slist>? = nil
    private var sink: CurlMultiLoop.Sink?
    /// The whole body (buffered), or the body of a failed status (streaming).
    fileprivate var received: [UInt8] = []
    fileprivate let limit: Int
    fileprivate var overflowed = false
    fileprivate let keepHeaders: Set<String>
    fileprivate var headers: [String: String] = [:]
    private let url: String
    let isStreaming: Bool
    /// curl's detailed message for a failed transfer (CURLOPT_ERRORBUFFER).
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))

    /// Whether the URL's host is an IPv4 or IPv6 address rather than a name.
    static func hostIsAddress(_ url: String) -> Bool {
        guard let scheme = url.firstRange(of: "://") else { return false }
        var authority = url[scheme.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        if authority.hasPrefix("[") { return authority.contains("]") }
        let host = String(authority.prefix { $0 != ":" })
        var address = in_addr()
        return inet_pton(AF_INET, host, &address) == 1
    }

    init(id: UInt64, request: HTTPRequest, sink: CurlMultiLoop.Sink) throws(HTTPError) {
        guard let easy = curl_easy_init() else { throw .other("curl_easy_init failed") }
        self.id = id
        self.easy = easy
        self.sink = sink
        if case .streaming = sink { isStreaming = true } else { isStreaming = false }
        self.limit = request.maxResponseBytes
        self.url = request.urlInErrors ?? request.url
        self.keepHeaders = request.keepHeaders

        cah_curl_set_pointer(easy, CURLOPT_PRIVATE, Unmanaged.passUnretained(self).toOpaque())
        errorBuffer.initialize(to: 0)
        cah_curl_set_pointer(easy, CURLOPT_ERRORBUFFER, errorBuffer)
        cah_curl_set_string(easy, CURLOPT_URL, request.url)
        // HTTP and HTTPS only. A URL can come from outside the config (Keystone's catalog);
        // libcurl would otherwise also read file://, ldap:// or rtmp:// (this one through
        // GnuTLS, which the images therefore leave uninitialised: see the Dockerfiles).
        guard cah_curl_set_string(easy, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK else {
            throw .other("this libcurl cannot be limited to http and https (CURLOPT_PROTOCOLS_STR needs 7.85)")
        }
        cah_curl_set_long(easy, CURLOPT_NOSIGNAL, 1)
        // An address needs no resolving: kept out of curl's DNS cache, which curl walks whole
        // on every lookup (5,000 hosts by address made it most of a sweep's CPU).
        if Self.hostIsAddress(request.url) { cah_curl_set_long(easy, CURLOPT_DNS_CACHE_TIMEOUT, 0) }
        if case .streaming = sink {
            // No overall deadline for a response that stays open; keep-alive probes find a dead peer.
            cah_curl_set_long(easy, CURLOPT_TIMEOUT_MS, 0)
            cah_curl_set_long(easy, CURLOPT_TCP_KEEPALIVE, 1)
            cah_curl_set_long(easy, CURLOPT_TCP_KEEPIDLE, 15)
            cah_curl_set_long(easy, CURLOPT_TCP_KEEPINTVL, 5)
        } else {
            cah_curl_set_long(easy, CURLOPT_TIMEOUT_MS, Int(request.timeout.milliseconds))
        }
        cah_curl_set_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(request.connectTimeout.milliseconds))
        if let path = request.unixSocketPath { cah_curl_set_string(easy, CURLOPT_UNIX_SOCKET_PATH, path) }
        if let tls = request.tls {
            if let ca = tls.caFile { cah_curl_set_string(easy, CURLOPT_CAINFO, ca) }
            if let cert = tls.certificateFile { cah_curl_set_string(easy, CURLOPT_SSLCERT, cert) }
            if let key = tls.keyFile { cah_curl_set_string(easy, CURLOPT_SSLKEY, key) }
        }
        switch request.method {
        case "GET": cah_curl_set_long(easy, CURLOPT_HTTPGET, 1)
        case "HEAD": cah_curl_set_long(easy, CURLOPT_NOBODY, 1)
        default:
            if request.method == "POST" || request.body != nil {
                let body = request.body ?? []
                body.withUnsafeBytes { raw in
                    // COPYPOSTFIELDS copies, so the Swift array may go away afterwards.
                    _ = cah_curl_set_body(easy, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, raw.count)
                }
            }
            if request.method != "POST" { cah_curl_set_string(easy, CURLOPT_CUSTOMREQUEST, request.method) }
        }
        var list: UnsafeMutablePointer<curl_slist>? = curl_slist_append(nil, "Expect:")
        for (name, value) in request.headers { list = curl_slist_append(list, "\(name): \(value)") }
        headerList = list
        cah_curl_set_headers(easy, list)
        cah_curl_set_write(
            easy,
            { data, size, count, user in
                let transfer = Unmanaged<Transfer>.fromOpaque(user!).takeUnretainedValue()
                let n = size * count
                if case .streaming(let continuation)? = transfer.sink, (200..<300).contains(cah_curl_response_code(transfer.easy)) {
                    data!.withMemoryRebound(to: UInt8.self, capacity: n) { p in
                        _ = continuation.yield(Array(UnsafeBufferPointer(start: p, count: n)))
                    }
                    return n
                }
                if transfer.received.count + n > transfer.limit {
                    transfer.overflowed = true
                    return 0  // makes libcurl stop with CURLE_WRITE_ERROR
                }
                data!.withMemoryRebound(to: UInt8.self, capacity: n) { p in
                    transfer.received.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
                }
                return n
            }, Unmanaged.passUnretained(self).toOpaque())
        if !keepHeaders.isEmpty {
            cah_curl_set_header_fn(
                easy,
                { data, size, count, user in
                    let transfer = Unmanaged<Transfer>.fromOpaque(user!).takeUnretainedValue()
                    let n = size * count
                    let line = data!.withMemoryRebound(to: UInt8.self, capacity: n) {
                        String(decoding: UnsafeBufferPointer(start: $0, count: n), as: UTF8.self)
                    }
                    if let colon = line.firstIndex(of: ":") {
                        let name = line[..<colon].lowercased()
                        if transfer.keepHeaders.contains(name) {
                            let value = line[line.index(after: colon)...].drop(while: \.isWhitespace)
                            transfer.headers[name] = String(value.reversed().drop(while: \.isWhitespace).reversed())
                        }
                    }
                    return n
                }, Unmanaged.passUnretained(self).toOpaque())
        }
    }

    func finish(code: CURLcode) {
        if code == CURLE_OK {
            let status = cah_curl_response_code(easy)
            if case .streaming(let continuation)? = sink {
                if (200..<300).contains(status) {
                    continuation.finish()
                } else {
                    continuation.finish(throwing: HTTPError.status(status, String(decoding: received.prefix(2000), as: UTF8.self)))
                }
                sink = nil
                return
            }
            finish(.success(HTTPResponse(status: status, body: received, headers: headers)))
            return
        }
        if overflowed {
            finish(.failure(.responseTooLarge(limit: limit)))
            return
        }
        // curl's own detail ("no alternative certificate subject name matches…") says more
        // than the code's generic text.
        let detail = String(cString: errorBuffer)
        let text = (detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail) + " (\(url))"
        switch code {
        case CURLE_OPERATION_TIMEDOUT: finish(.failure(.timedOut(text)))
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_RECV_ERROR,
            CURLE_SEND_ERROR, CURLE_GOT_NOTHING:
            finish(.failure(.unreachable(text)))
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CACERT_BADFILE,
            CURLE_SSL_CIPHER:
            finish(.failure(.tls(text)))
        default: finish(.failure(.other(text)))
        }
    }

    func finish(_ result: Result<HTTPResponse, HTTPError>) {
        switch (sink, result) {
        case (.buffered(let c)?, _): c.resume(returning: result)
        case (.streaming(let c)?, .success): c.finish()
        case (.streaming(let c)?, .failure(let error)): c.finish(throwing: error)
        case (nil, _): break
        }
        sink = nil
    }

    deinit {
        curl_easy_cleanup(easy)
        curl_slist_free_all(headerList)
        errorBuffer.deallocate()
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }
}
