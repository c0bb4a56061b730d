import AMQP
import AutoHealCore
import DockerAPI
import Foundation
import HTTP
import Handlers
import Logging
import Policy

/// Small pieces the benchmarks share: percentiles, /proc readings, child daemons, a vhost.
enum Bench {
    static let http = HTTPClient(name: "bench-http")

    /// A logger that drops everything (what is measured is the healer, not log I/O).
    static let silent = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A container reviver over the config's hosts, with a policy executor that has no broker behind it.
    static func reviver(config: AutoHealConfig, http: HTTPClient) -> ContainerReviver {
        let hosts = DockerHosts(config: config, http: http)
        let executor = PolicyExecutor(config: config, runtimes: hosts, identity: "bench", readsSharedState: false, logger: silent)
        return ContainerReviver(
            config: config, observer: Observer(config: config, runtimes: hosts), executor: executor, loggers: [.control: silent])
    }

    /// The value below which `p` percent of the samples fall (nearest rank).
    static func percentile(_ samples: [Double], _ p: Double) -> Double {
        guard !samples.isEmpty else { return .nan }
        let sorted = samples.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank - 1, 0), sorted.count - 1)]
    }

    static func summary(_ samples: [Double], unit: String = "s") -> String {
        String(
            format: "p50 %.3f%@  p95 %.3f%@  max %.3f%@  (n=%d)", percentile(samples, 50), unit, percentile(samples, 95), unit,
            samples.max() ?? .nan, unit, samples.count)
    }

    /// Resident memory (kB) and CPU time (user + system, seconds) of a process, from /proc.
    static func usage(pid: Int32) -> (rssKB: Int, cpuSeconds: Double)? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        else { return nil }
        let rss =
            status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true)[1]) } ?? 0
        // Fields after the command name (which may hold spaces) start after the last ')'.
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let utime = Double(fields[11]) ?? 0, stime = Double(fields[12]) ?? 0
        return (rss, (utime + stime) / ticks)
    }

    /// Raises the open-file limit to the hard limit (the fleet needs thousands of sockets).
    static func raiseFileLimit() {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    /// Runs `docker ARGS` on the local engine; returns its output.
    @discardableResult
    static func docker(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["docker"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0 else { throw BenchError("docker \(arguments.joined(separator: " ")): \(text)") }
        return text
    }

    /// A fresh vhost on the local broker (management API), deleted by `dropVhost`.
    /// A fresh vhost for a bench; `queueVersion` sets a policy giving the queues that classic
    /// queue version (RabbitMQ 3.10+: 2 keeps its index in a faster format for persistent
    /// messages), the way an operator would, without changing how the queues are declared.
    static func makeVhost(_ name: String, queueVersion: Int? = nil) async throws {
        var calls: [(String, String, String?)] = [
            ("DELETE", "/api/vhosts/\(name)", nil), ("PUT", "/api/vhosts/\(name)", "{}"),
            ("PUT", "/api/permissions/\(name)/guest", #"{"configure":".*","write":".*","read":".*"}"#),
        ]
        if let queueVersion {
            calls.append(
                (
                    "PUT", "/api/policies/\(name)/queue-version",
                    #"{"pattern":".*","apply-to":"queues","definition":{"queue-version":"# + "\(queueVersion)}}"
                ))
        }
        for (method, path, body) in calls {
            let response = try await http.execute(
                HTTPRequest(
                    method: method, url: "http://127.0.0.1:15672" + path,
                    headers: [
                        ("Authorization", "Basic " + Data("guest:guest".utf8).base64EncodedString()), ("Content-Type", "application/json"),
                    ],
                    body: body.map { Array($0.utf8) }, timeout: .seconds(10)))
            guard method == "DELETE" || (200..<300).contains(response.status) else {
                throw BenchError("RabbitMQ management API \(method) \(path): \(response.status) (run `bash scripts/start-services.sh`)")
            }
        }
    }

    /// Runs `body` in a fresh vhost and deletes the vhost afterwards, also when `body` throws
    /// (a `defer` cannot await the deletion; an unawaited task was cut off at exit).
    static func withVhost<T>(
        _ name: String, queueVersion: Int? = nil, _ body: () async throws -> T
    ) async throws -> T {
        try await makeVhost(name, queueVersion: queueVersion)
        do {
            let result = try await body()
            await dropVhost(name)
            return result
        } catch {
            await dropVhost(name)
            throw error
        }
    }

    static func dropVhost(_ name: String) async {
        _ = try? await http.execute(
            HTTPRequest(
                method: "DELETE", url: "http://127.0.0.1:15672/api/vhosts/\(name)",
                headers: [("Authorization", "Basic " + Data("guest:guest".utf8).base64EncodedString())], timeout: .seconds(10)))
    }

    static func brokerSettings(vhost: String) -> AMQPSettings {
        AMQPSettings(servers: [AMQPServer(host: "127.0.0.1", port: 5672)], vhost: vhost, connectionName: "autoheal-bench")
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// One of the built daemons, run as a child process with its output in a file.
final class DaemonChild: @unchecked Sendable {
    let process = Process()
    let output: String

    init(binary: String, config: String, directory: String) throws {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw BenchError("no daemon at \(binary): build it first (`swift build -c release`)")
        }
        output = directory + "/" + URL(fileURLWithPath: binary).lastPathComponent + ".out"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--config", config]
        process.standardOutput = FileHandle(forWritingAtPath: output)
        process.standardError = process.standardOutput
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }
}

/// Waits until `condition` holds, polling every 20 ms, or throws after `timeout`.
func waitFor(_ what: String, timeout: Duration, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw BenchError("timed out after \(timeout) waiting for \(what)")
}
