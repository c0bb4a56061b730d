import Foundation

/// A built program of this package (autoheal-engine, autoheal-monitor, autoheal) run as a
/// separate process, its output kept in a file.
public final class DaemonProcess: @unchecked Sendable {
    public let name: String
    public let outputPath: String
    private let process = Process()

    /// The directory of the package's built programs: the one the test binary runs from.
    public static func binaryDirectory() throws -> URL {
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        return URL(fileURLWithPath: exe).deletingLastPathComponent()
    }

    public static func binary(_ name: String) throws -> URL {
        let url = try binaryDirectory().appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw TestSetupError("\(url.path) is not built; run `swift build` (scripts/test.sh does) before the tests")
        }
        return url
    }

    public init(_ name: String, arguments: [String], outputDirectory: URL) throws {
        self.name = name
        outputPath = outputDirectory.appendingPathComponent("\(name).out").path
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        process.executableURL = try Self.binary(name)
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    public var isRunning: Bool { process.isRunning }
    public var pid: Int32 { process.processIdentifier }
    /// The environment the running program was last started with (`/proc/PID/environ`): for the
    /// daemons, the one they started themselves again with (CDaemonStartup).
    public var startEnvironment: [String] {
        let data = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))) ?? Data()
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }
    public var exitStatus: Int32 { process.terminationStatus }
    public var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// The engine's stop grace in docker-compose.yml (`stop_grace_period: 90s`): on SIGTERM a
    /// running handler (a nova-manage call of tens of seconds on a loaded machine) finishes
    /// and acks before the engine exits.
    public static let engineStopGrace: Duration = .seconds(90)

    /// Sends SIGTERM and waits for the exit; returns the exit status.
    /// A daemon that does not exit in time is killed, and the error carries the end of its
    /// output (where its shutdown got stuck).
    public func terminate(timeout: Duration = .seconds(20)) async throws -> Int32 {
        signal(SIGTERM)
        do {
            try await waitUntil("\(name) to exit after SIGTERM", timeout: timeout) { !self.process.isRunning }
        } catch {
            let tail = output.split(separator: "\n").suffix(40).joined(separator: "\n")
            signal(SIGKILL)
            throw TestSetupError("\(error); the end of its output:\n\(tail)")
        }
        return process.terminationStatus
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

/// Runs a built program to completion and returns its exit status and output.
public func runProgram(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String)
{
    let assignments = environment.sorted(by: { $0.key < $1.key }).map { "\($0.key)=\($0.value)" }
    let (status, output) = try spawnAndWait(
        (assignments.isEmpty ? [] : ["/usr/bin/env"] + assignments) + [try DaemonProcess.binary(name).path] + arguments)
    return (status, output)
}
