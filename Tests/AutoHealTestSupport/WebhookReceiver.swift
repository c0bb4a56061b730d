import Foundation

/// A local webhook receiver on 127.0.0.1:`port` (python3's http.server) that keeps every
/// POSTed body, one per line, for tests of notifications.
public final class WebhookReceiver: @unchecked Sendable {
    public let port: Int
    let file: String
    let process = Process()

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
        let port = TestEnvironment.unusedPort()
        self.port = port
        file = FileManager.default.temporaryDirectory.appendingPathComponent(TestEnvironment.uniqueName("webhook") + ".txt").path
        FileManager.default.createFile(atPath: file, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", Self.script, String(port), file]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        try await waitUntil("the webhook receiver on port \(port)", timeout: .seconds(10)) {
            guard self.process.isRunning else { throw TestSetupError("python3 http.server on port \(port) exited") }
            return FailingNBDDisk.listening(port)
        }
    }

    /// Bodies received so far.
    public var bodies: [String] {
        ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    deinit {
        if process.isRunning { process.terminate() }
        try? FileManager.default.removeItem(atPath: file)
    }
}
