import Foundation

/// Runs the docker CLI against the local engine, for test fixtures.
public enum DockerCLI {
    /// Runs `docker ARGS…`; throws with its output when it exits non-zero.
    @discardableResult
    public static func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["docker", "-H", "unix://\(TestEnvironment.dockerSocket)"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0 else {
            throw TestSetupError("docker \(arguments.joined(separator: " ")) failed (\(process.terminationStatus)): \(text)")
        }
        return text
    }
}

/// A container made for one test from the local busybox image, with a real Docker health
/// check: healthy while `/tmp/ok` exists (checked every second, one failure makes it
/// unhealthy). Its process writes `/tmp/ok` when it starts and exits at once on SIGTERM.
public struct TestContainer: Sendable {
    public let name: String

    /// The shell command of a well-behaved service.
    public static let serviceCommand = "trap 'exit 0' TERM; touch /tmp/ok; while :; do sleep 0.2; done"

    /// Creates and (unless `start` is false) starts the container.
    /// - Parameter command: the shell command it runs; the default is ``serviceCommand``.
    public init(name: String, command: String = serviceCommand, start: Bool = true, healthCheck: Bool = true, startPeriod: String = "0s") throws {
        self.name = name
        _ = try? DockerCLI.run(["rm", "-f", name])
        var args = [start ? "run" : "create"]
        if start { args.append("-d") }
        args += ["--name", name, "--network", "none", "--label", "autoheal-test=1"]
        if healthCheck {
            args += ["--health-cmd", "test -f /tmp/ok", "--health-interval", "1s", "--health-retries", "1",
                     "--health-timeout", "2s", "--health-start-period", startPeriod]
        }
        args += [TestEnvironment.testImage, "sh", "-c", command]
        try DockerCLI.run(args)
    }

    public func inspect(_ format: String) throws -> String { try DockerCLI.run(["inspect", "-f", format, name]) }
    public var status: String { get throws { try inspect("{{.State.Status}}") } }
    public var health: String { get throws { try inspect("{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}") } }
    public var startedAt: String { get throws { try inspect("{{.State.StartedAt}}") } }

    /// Makes the health check fail from now on (until the container restarts).
    public func breakHealth() throws { try DockerCLI.run(["exec", name, "rm", "-f", "/tmp/ok"]) }
    public func kill() throws { try DockerCLI.run(["kill", name]) }
    public func pause() throws { try DockerCLI.run(["pause", name]) }
    public func stop() throws { try DockerCLI.run(["stop", "-t", "5", name]) }
    public func remove() { _ = try? DockerCLI.run(["rm", "-f", name]) }

    /// Waits for the health status (or "none" for containers without a check).
    public func waitFor(health wanted: String, timeout: Duration = .seconds(20)) async throws {
        try await waitUntil("\(name) to be \(wanted)", timeout: timeout) { (try? health) == wanted }
    }

    public func waitFor(status wanted: String, timeout: Duration = .seconds(20)) async throws {
        try await waitUntil("\(name) to be \(wanted)", timeout: timeout) { (try? status) == wanted }
    }
}
