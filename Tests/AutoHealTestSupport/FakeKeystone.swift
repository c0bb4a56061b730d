import Foundation

/// Keystone cannot run here (the lab's Nova runs without it), so this stand-in (python3's
/// http.server) answers the two things ``NovaClient`` asks of it: a v3 password login
/// (`POST /v3/auth/tokens`, 201 with `X-Subject-Token` and a catalog whose compute endpoint is
/// itself) and `GET /compute/v2.1/os-services`, which answers 401 to any token but the newest —
/// ``revokeTokens()`` makes the next call find its token expired, as after a Keystone restart.
public final class FakeKeystone: Sendable {
    public var port: Int { server.port }
    let state: String
    private let server: PythonServer

    static let script = """
        import ctypes, http.server, json, sys
        ctypes.CDLL(None).prctl(1, 15)
        port, state = int(sys.argv[1]), sys.argv[2]
        compute = sys.argv[3] if len(sys.argv) > 3 else 'http://127.0.0.1:%d/compute/v2.1' % port
        logins = 0
        def valid():
            try: return open(state).read().strip()
            except OSError: return ''
        class H(http.server.BaseHTTPRequestHandler):
            def reply(self, code, body, headers={}):
                data = json.dumps(body).encode()
                self.send_response(code)
                for k, v in headers.items(): self.send_header(k, v)
                self.send_header('Content-Length', str(len(data))); self.end_headers(); self.wfile.write(data)
            def do_POST(self):
                global logins
                body = json.loads(self.rfile.read(int(self.headers.get('Content-Length', 0))))
                user = body['auth']['identity']['password']['user']
                if self.path != '/v3/auth/tokens' or user['password'] != 'right':
                    return self.reply(401, {'error': {'code': 401, 'message': 'The request you have made requires authentication.'}})
                logins += 1
                token = 'token-%d' % logins
                open(state, 'w').write(token)
                open(state + '.logins', 'w').write(str(logins))
                catalog = [{'type': 'compute', 'endpoints': [
                    {'interface': 'internal', 'region': 'RegionOne', 'url': compute}]}]
                self.reply(201, {'token': {'expires_at': '2099-01-01T00:00:00.000000Z', 'catalog': catalog}}, {'X-Subject-Token': token})
            def do_GET(self):
                if self.headers.get('X-Auth-Token') != valid():
                    return self.reply(401, {'error': {'code': 401, 'message': 'expired token'}})
                self.reply(200, {'services': [{'id': 'a1b2', 'binary': 'nova-compute', 'host': 'compute-1', 'state': 'up',
                                               'status': 'enabled', 'forced_down': False}]})
            def log_message(self, *a): pass
        http.server.HTTPServer(('127.0.0.1', port), H).serve_forever()
        """

    public var authURL: String { "http://127.0.0.1:\(port)/v3" }

    /// `computeURL`: the compute endpoint its catalog gives (by default, itself).
    public init(computeURL: String? = nil) async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent(TestEnvironment.uniqueName("keystone")).path
        self.state = state
        server = try await PythonServer(
            script: Self.script, arguments: [state] + (computeURL.map { [$0] } ?? []), name: "Keystone stand-in")
    }

    /// Logins so far.
    public var logins: Int { Int((try? String(contentsOfFile: state + ".logins", encoding: .utf8)) ?? "0") ?? 0 }

    /// Every token given so far stops working.
    public func revokeTokens() { try? "revoked".write(toFile: state, atomically: true, encoding: .utf8) }

    deinit {
        try? FileManager.default.removeItem(atPath: state)
        try? FileManager.default.removeItem(atPath: state + ".logins")
    }
}
