import Foundation

/// A TCP proxy on 127.0.0.1:`port` to 127.0.0.1:`targetPort` (python3 asyncio), which a test
/// can cut — every connection through it drops and the port refuses new ones — and restore.
/// Used to break a daemon's Docker event stream without touching Docker itself.
public final class TCPProxy: @unchecked Sendable {
    public let port: Int
    public let targetPort: Int
    private var process: Process?
    private let lock = NSLock()

    static let script = """
        import asyncio, ctypes, sys
        ctypes.CDLL(None).prctl(1, 15)  # PR_SET_PDEATHSIG: die with the test process
        port, target = int(sys.argv[1]), int(sys.argv[2])
        async def pipe(reader, writer):
            try:
                while data := await reader.read(65536):
                    writer.write(data); await writer.drain()
            except Exception: pass
            finally: writer.close()
        async def handle(client_reader, client_writer):
            try:
                reader, writer = await asyncio.open_connection('127.0.0.1', target)
            except Exception:
                client_writer.close(); return
            await asyncio.gather(pipe(client_reader, writer), pipe(reader, client_writer))
        async def main():
            server = await asyncio.start_server(handle, '127.0.0.1', port, reuse_address=True)
            async with server: await server.serve_forever()
        asyncio.run(main())
        """

    /// Starts a proxy on a free port.
    public init(to targetPort: Int) async throws {
        self.port = TestEnvironment.unusedPort()
        self.targetPort = targetPort
        try await restore()
    }

    /// (Re)starts the proxy process and waits until it listens.
    public func restore() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", Self.script, String(port), String(targetPort)]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        lock.withLock { self.process = process }
        let port = self.port
        try await waitUntil("the TCP proxy on port \(port)", timeout: .seconds(10)) {
            guard process.isRunning else { throw TestSetupError("python3 proxy on port \(port) exited") }
            return FailingNBDDisk.listening(port)
        }
    }

    /// Kills the proxy: its connections break at once and the port refuses connections.
    public func cut() async throws {
        guard let process = lock.withLock({ self.process }) else { return }
        kill(process.processIdentifier, SIGKILL)
        let port = self.port
        try await waitUntil("the TCP proxy on port \(port) to be gone", timeout: .seconds(10)) {
            !process.isRunning && !FailingNBDDisk.listening(port)
        }
        lock.withLock { self.process = nil }
    }

    deinit {
        if let process, process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
