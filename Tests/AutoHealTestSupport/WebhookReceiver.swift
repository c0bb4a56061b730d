import Foundation

/// A local webhook receiver on 127.0.0.1:`port` (python3's http.server) that keeps every
/// POSTed body, one per line, for tests of notifications.
public final class WebhookReceiver: Sendable {
    public var port: Int { server.port }
    let file: String
    private let server: PythonServer

    static let script = """
        import ctypes, http.server, sys
        ctypes.CDLL(None).prctl(1, 15)  # PR_SET_PDEATHSIG: die with the test process
        port, path = int(sys.argv[1]), sys.argv[2]
        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
                with open(path, 'ab') as f: f.write(body.replace(b'\\n', b' ') + b'\\n')
                self.send_response(200); self.end_headers(); self.wfile.write(b'ok')
            def log_message(self, *a): pass
        http.server.HTTPServer(('127.0.0.1', port), H).serve_forever()
        """

    public var url: String { "http://127.0.0.1:\(port)/hooks/test" }

    /// Starts a receiver on a free port.
    public init() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(TestEnvironment.uniqueName("webhook") + ".txt").path
        _ = FileManager.default.createFile(atPath: file, contents: nil)
        self.file = file
        server = try await PythonServer(script: Self.script, arguments: [file], name: "webhook receiver")
    }

    /// Bodies received so far.
    public var bodies: [String] {
        ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    deinit { try? FileManager.default.removeItem(atPath: file) }
}
