import Foundation

/// Runs the docker CLI against the local engine, for test fixtures.
public enum DockerCLI {
    /// Runs `docker ARGS…`; throws with its output when it exits non-zero.
    @discardableResult
    public static func run(_ arguments: [String], host: String = "unix://\(TestEnvironment.dockerSocket)") throws -> String {
        let (status, output) = try spawnAndWait(["docker", "-H", host] + arguments)
        let text = output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard status == 0 else {
            throw TestSetupError("docker \(arguments.joined(separator: " ")) failed (\(status)): \(text)")
        }
        return text
    }
}

/// A container made for one test from the local busybox image, with a real Docker health
/// check: healthy while `/tmp/ok` exists (checked every second, one failure makes it
/// unhealthy). Its process writes `/tmp/ok` when it starts and exits at once on SIGTERM.
public struct TestContainer: Sendable {
    public let name: String
    /// The Docker engine it runs on (`unix:///…`).
    public let host: String

    /// The shell command of a well-behaved service.
    public static let serviceCommand = "trap 'exit 0' TERM; touch /tmp/ok; while :; do sleep 0.2; done"

    /// Creates and (unless `start` is false) starts the container.
    /// - Parameter command: the shell command it runs; the default is ``serviceCommand``.
    public init(
        name: String, command: String = serviceCommand, start: Bool = true, healthCheck: Bool = true, startPeriod: String = "0s",
        host: String = "unix://\(TestEnvironment.dockerSocket)"
    ) throws {
        self.name = name
        self.host = host
        _ = try? DockerCLI.run(["rm", "-f", name], host: host)
        var args = [start ? "run" : "create"]
        if start { args.append("-d") }
        args += ["--name", name, "--network", "none", "--label", "autoheal-test=1"]
        if healthCheck {
            args += [
                "--health-cmd", "test -f /tmp/ok", "--health-interval", "1s", "--health-retries", "1",
                "--health-timeout", "2s", "--health-start-period", startPeriod,
            ]
        }
        args += [TestEnvironment.testImage, "sh", "-c", command]
        try DockerCLI.run(args, host: host)
    }

    public func inspect(_ format: String) throws -> String { try DockerCLI.run(["inspect", "-f", format, name], host: host) }
    public var status: String { get throws { try inspect("{{.State.Status}}") } }
    public var health: String { get throws { try inspect("{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}") } }
    public var startedAt: String { get throws { try inspect("{{.State.StartedAt}}") } }

    /// Makes the health check fail from now on (until the container restarts).
    public func breakHealth() throws { try DockerCLI.run(["exec", name, "rm", "-f", "/tmp/ok"], host: host) }
    public func kill() throws { try DockerCLI.run(["kill", name], host: host) }
    /// `docker pause`, retried a few times: under load the cgroup freezer sometimes answers
    /// "unable to freeze" and succeeds a moment later.
    public func pause() throws {
        for attempt in 1...5 {
            do {
                try DockerCLI.run(["pause", name], host: host)
                return
            } catch let error as TestSetupError where error.description.contains("unable to freeze") && attempt < 5 {
                usleep(300_000)
            }
        }
    }
    public func stop() throws { try DockerCLI.run(["stop", "-t", "5", name], host: host) }
    public func remove() { _ = try? DockerCLI.run(["rm", "-f", name], host: host) }

    /// Waits for the health status (or "none" for containers without a check).
    public func waitFor(health wanted: String, timeout: Duration = .seconds(20)) async throws {
        try await waitUntil("\(name) to be \(wanted)", timeout: timeout) { (try? health) == wanted }
    }

    public func waitFor(status wanted: String, timeout: Duration = .seconds(20)) async throws {
        try await waitUntil("\(name) to be \(wanted)", timeout: timeout) { (try? status) == wanted }
    }
}

/// A private Docker engine (scripts/private-dockerd.sh) standing in for a second controller,
/// with the busybox test image. Stopped and deleted when the value goes away.
public final class PrivateDockerd: Sendable {
    public let name: String
    public var socket: String { "/tmp/autoheal-dockerd-\(name)/docker.sock" }
    public var host: String { "unix://\(socket)" }

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/private-dockerd.sh").path
    }

    /// - Parameter tls: also listen on tcp://127.0.0.1:`port` with `--tlsverify` and these certificates.
    public init(name: String, tls: (port: Int, certificates: TestCertificates)? = nil) throws {
        self.name = name
        var argv = ["/bin/bash", Self.script, "start", name]
        if let tls { argv = ["/usr/bin/env", "TLS_DIR=\(tls.certificates.directory)", "TLS_PORT=\(tls.port)"] + argv }
        let (code, output) = try spawnAndWait(argv)
        guard code == 0 else {
            throw TestSetupError("private dockerd \(name) did not start: \(output); run `\(TestEnvironment.setupCommand)`")
        }
    }

    deinit { _ = try? spawnAndWait(["/bin/bash", Self.script, "stop", name]) }
}

/// A CA, a server certificate for 127.0.0.1/localhost and a client certificate, made with
/// openssl by scripts/make-certs.sh in a directory of the test's own.
public struct TestCertificates: Sendable {
    public let directory: String
    public var ca: String { directory + "/ca.pem" }
    public var clientCertificate: String { directory + "/client.pem" }
    public var clientKey: String { directory + "/client-key.pem" }

    /// - Parameter serverNames: the names (IPs or DNS names) the server certificate is valid for.
    public init(serverNames: [String] = []) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(TestEnvironment.uniqueName("certs")).path
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/make-certs.sh").path
        let (code, output) = try spawnAndWait(["/bin/bash", script, directory] + serverNames)
        guard code == 0 else {
            throw TestSetupError("make-certs.sh failed: \(output) (is openssl installed? run `\(TestEnvironment.setupCommand)`)")
        }
    }

    public func remove() { try? FileManager.default.removeItem(atPath: directory) }
}
