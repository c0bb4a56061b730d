import AutoHealCore
import Foundation

/// What running a fence command came to.
public struct FenceResult: Sendable, Equatable {
    /// nil when it did not finish within its deadline (it was killed) or could not start.
    public var exitCode: Int32?
    /// Its standard output and error, at most 64 KiB.
    public var output: String
    /// Why it did not run to an exit code.
    public var failure: String?

    public init(exitCode: Int32?, output: String, failure: String? = nil) {
        self.exitCode = exitCode
        self.output = output
        self.failure = failure
    }
}

/// Runs `[host_failure] fence` for a host. The engine's is ``ProcessFenceRunner``.
public protocol FenceRunner: Sendable {
    func run(_ command: [String], timeout: Duration) async -> FenceResult
}

/// Runs the fence command as a child process of the engine (no shell): SIGTERM at its
/// deadline, SIGKILL 5 s later.
public struct ProcessFenceRunner: FenceRunner {
    public init() {}

    /// The command's words for `host`: `{host}` replaced in every word, or the host's name
    /// added as the last argument when no word has `{host}`.
    public static func command(_ words: [String], host: String) -> [String] {
        words.contains { $0.contains("{host}") } ? words.map { $0.replacingOccurrences(of: "{host}", with: host) } : words + [host]
    }

    public func run(_ command: [String], timeout: Duration) async -> FenceResult {
        guard let program = command.first, let path = Self.resolve(program) else {
            return FenceResult(exitCode: nil, output: "", failure: "\(command.first ?? "(empty)") not found in PATH")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = Array(command.dropFirst())
        process.standardInput = FileHandle.nullDevice
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let output = Locked<[UInt8]>([])
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            output.withLock { if $0.count < 64 * 1024 { $0 += data.prefix(64 * 1024 - $0.count) } }
        }
        let finished = AsyncFlag()
        process.terminationHandler = { _ in finished.set() }
        do {
            try process.run()
        } catch {
            pipe.fileHandleForReading.readabilityHandler = nil
            return FenceResult(exitCode: nil, output: "", failure: "cannot start \(path): \(error.localizedDescription)")
        }
        var timedOut = false
        if !(await finished.wait(timeout: timeout)) {
            timedOut = true
            process.terminate()
            if !(await finished.wait(timeout: .seconds(5))) {
                kill(process.processIdentifier, SIGKILL)
                _ = await finished.wait(timeout: .seconds(5))
            }
        }
        pipe.fileHandleForReading.readabilityHandler = nil
        let rest = pipe.fileHandleForReading.readDataToEndOfFile()
        let text = output.withLock { String(decoding: $0 + rest.prefix(64 * 1024 - $0.count), as: UTF8.self) }
        if timedOut { return FenceResult(exitCode: nil, output: text, failure: "did not finish within \(timeout); killed") }
        return FenceResult(exitCode: process.terminationStatus, output: text)
    }

    /// An absolute path, or the first executable of that name in PATH.
    static func resolve(_ program: String) -> String? {
        if program.contains("/") { return FileManager.default.isExecutableFile(atPath: program) ? program : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        return path.split(separator: ":").map { "\($0)/\(program)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
