import AutoHealCore
import FoundationEssentials
import Glibc
import Subprocess
import SystemPackage

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

/// Runs the fence command as a child process of the engine (no shell), through
/// swift-subprocess rather than Foundation's `Process`: a child spawned from a cooperative
/// thread by `Process` inherits that thread's signal mask, with SIGTERM blocked, so a fence
/// tool was never asked to stop, only SIGKILLed. Here the child starts with a clean mask and
/// default handlers, in a session of its own: at the deadline SIGTERM goes to every process it
/// started, SIGKILL `termGrace` later. Its output goes to an unlinked file, not a pipe, so a
/// helper it left running cannot keep the engine waiting for an end of file.
public struct ProcessFenceRunner: FenceRunner {
    /// How long a fence command has between SIGTERM and SIGKILL.
    public var termGrace: Duration
    /// The most of its output kept.
    public static let outputLimit = 64 * 1024

    public init(termGrace: Duration = .seconds(5)) {
        self.termGrace = termGrace
    }

    /// The command's words for `host`: `{host}` replaced in every word, or the host's name
    /// added as the last argument when no word has `{host}`.
    public static func command(_ words: [String], host: String) -> [String] {
        words.contains { $0.contains("{host}") } ? words.map { $0.replacing("{host}", with: host) } : words + [host]
    }

    private enum Outcome: Sendable {
        case finished(TerminationStatus)
        case notStarted(String)
        case deadline
    }

    public func run(_ command: [String], timeout: Duration) async -> FenceResult {
        guard let program = command.first, let path = Self.resolve(program) else {
            return FenceResult(exitCode: nil, output: "", failure: "\(command.first ?? "(empty)") not found in PATH")
        }
        let file: FileDescriptor
        do {
            file = try Self.outputFile()
        } catch {
            return FenceResult(exitCode: nil, output: "", failure: "cannot make a file for its output: \(error)")
        }
        defer { try? file.close() }
        var options = PlatformOptions()
        options.createSession = true
        options.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: termGrace)]
        let configuration = Configuration(
            executable: .path(FilePath(path)), arguments: Arguments(Array(command.dropFirst())), platformOptions: options)
        let outcome = await withTaskGroup(of: Outcome.self) { group in
            group.addTask {
                do {
                    let result = try await Subprocess.run(
                        configuration, input: .none, output: .fileDescriptor(file, closeAfterSpawningProcess: false),
                        error: .combinedWithOutput)
                    return .finished(result.terminationStatus)
                } catch {
                    return .notStarted("cannot start \(path): \(error)")
                }
            }
            group.addTask {
                do { try await Task.sleep(for: timeout) } catch {}
                return .deadline
            }
            let first = await group.next() ?? .deadline
            // On the deadline, cancelling the run stops the command: SIGTERM, then SIGKILL.
            group.cancelAll()
            await group.waitForAll()
            return first
        }
        let output = Self.read(file)
        switch outcome {
        case .finished(.exited(let code)):
            return FenceResult(exitCode: code, output: output)
        case .finished(.signaled(let signal)):
            return FenceResult(exitCode: nil, output: output, failure: "ended by signal \(signal)")
        case .notStarted(let reason):
            return FenceResult(exitCode: nil, output: output, failure: reason)
        case .deadline:
            return FenceResult(
                exitCode: nil, output: output,
                failure: "did not finish within \(timeout); stopped (SIGTERM, SIGKILL after \(termGrace))")
        }
    }

    /// A new file in the temporary directory, already unlinked: only this descriptor and the
    /// child's copies of it reach it.
    private static func outputFile() throws -> FileDescriptor {
        let directory = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        let path = FilePath(directory).appending("autoheal-fence-\(UUID().uuidString)")
        let file = try FileDescriptor.open(
            path, .readWrite, options: [.create, .exclusiveCreate], permissions: [.ownerReadWrite])
        _ = unlink(path.string)
        return file
    }

    /// The first ``outputLimit`` bytes the command wrote.
    private static func read(_ file: FileDescriptor) -> String {
        var bytes = [UInt8](repeating: 0, count: outputLimit)
        var count = 0
        while count < outputLimit {
            let n = bytes[count...].withUnsafeMutableBytes { (try? file.read(fromAbsoluteOffset: Int64(count), into: $0)) ?? 0 }
            if n <= 0 { break }
            count += n
        }
        return String(decoding: bytes[..<count], as: UTF8.self)
    }

    /// An absolute path, or the first executable of that name in PATH.
    static func resolve(_ program: String) -> String? {
        if program.contains("/") { return FileManager.default.isExecutableFile(atPath: program) ? program : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        return path.split(separator: ":").map { "\($0)/\(program)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
