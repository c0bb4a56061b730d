import Foundation

/// A small python3 HTTP server of a test's own on 127.0.0.1 (the webhook receiver, the
/// Keystone stand-in): started on a free port, waited for until it listens, stopped with
/// the test (and by the kernel if the test process dies: PR_SET_PDEATHSIG in the script).
public final class PythonServer: @unchecked Sendable {
    public let port: Int
    private let process = Process()

    /// Runs `script` as `python3 -c script PORT ARGUMENTS…`.
    public init(script: String, arguments: [String] = [], name: String) async throws {
        let port = TestEnvironment.unusedPort()
        self.port = port
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, String(port)] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        try await waitUntil("the \(name) on port \(port)", timeout: .seconds(10)) {
            guard self.process.isRunning else { throw TestSetupError("the \(name) (python3 on port \(port)) exited") }
            return FailingNBDDisk.listening(port)
        }
    }

    deinit { if process.isRunning { process.terminate() } }
}
