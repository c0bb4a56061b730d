import AMQP
import AutoHealCore
import DockerAPI
import Foundation
import HTTP

/// A problem with the test machine: a service the test needs is not there. The message
/// names the command that sets it up.
public struct TestSetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The real services the integration and end-to-end tests use, started by
/// `bash scripts/start-services.sh` (which `scripts/test.sh` runs first).
public enum TestEnvironment {
    public static let setupCommand = "bash scripts/start-services.sh"
    public static let rabbitHost = "127.0.0.1"
    public static let rabbitPort = 5672
    public static let managementURL = "http://127.0.0.1:15672"
    public static let dockerSocket = "/var/run/docker.sock"
    public static let dockerTCP = "127.0.0.1:2375"
    /// The busybox image `scripts/lib.sh` imports (there is no registry).
    public static let testImage = "autoheal/busybox:latest"

    /// Settings for the shared broker, in a test's own vhost.
    public static func brokerSettings(_ vhost: String, password: String = "guest") -> AMQPSettings {
        AMQPSettings(
            servers: [AMQPServer(host: rabbitHost, port: rabbitPort)], vhost: vhost, password: password,
            heartbeatSeconds: 10, connectTimeout: .seconds(2))
    }

    /// A loopback port nothing listens on, for a helper server of a test: picked at random
    /// from 26000–29999, below the kernel's ephemeral range (so no outgoing connection takes
    /// it later) and above the fixed ports tests use (private nodes, their distribution ports,
    /// TLS dockerds).
    public static func unusedPort() -> Int {
        var port = Int.random(in: 26_000...29_999)
        while FailingNBDDisk.listening(port) { port = Int.random(in: 26_000...29_999) }
        return port
    }

    /// A new, empty directory of the test's own under the system's temporary directory
    /// (`prefix` plus a unique suffix); the test removes it.
    public static func temporaryDirectory(_ prefix: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName(prefix))
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// One HTTP client for every test helper in the process.
    public static let http = HTTPClient(name: "test-http")

    /// Fails at once (within 3 s) when RabbitMQ or its management API is not reachable.
    public static func requireRabbitMQ() async throws {
        let request = HTTPRequest(
            url: managementURL + "/api/overview", headers: [("Authorization", RabbitAdmin.basicAuth)],
            timeout: .seconds(3), connectTimeout: .seconds(2))
        do {
            let response = try await http.execute(request)
            guard response.status == 200 else {
                throw TestSetupError("RabbitMQ management API answered \(response.status); run `\(setupCommand)`")
            }
        } catch let error as HTTPError {
            throw TestSetupError("RabbitMQ is not reachable on 127.0.0.1:5672/15672 (\(error)); run `\(setupCommand)`")
        }
    }

    /// Fails at once (within 3 s) when the Docker engine or the test image is missing.
    public static func requireDocker() async throws {
        let request = HTTPRequest(
            url: "http://localhost/images/\(testImage)/json", unixSocketPath: dockerSocket, timeout: .seconds(3),
            connectTimeout: .seconds(2))
        do {
            let response = try await http.execute(request)
            guard response.status == 200 else {
                throw TestSetupError("Docker has no image \(testImage) (HTTP \(response.status)); run `\(setupCommand)`")
            }
        } catch let error as HTTPError {
            throw TestSetupError("Docker is not reachable on \(dockerSocket) (\(error)); run `\(setupCommand)`")
        }
    }

    /// A name no other test uses: `prefix-<8 hex>`.
    public static func uniqueName(_ prefix: String) -> String {
        "\(prefix)-\(String(UInt32.random(in: .min ... .max), radix: 16))"
    }
}

/// Waits for a condition with a deadline, polling; never sleeps and hopes.
public func waitUntil(
    _ what: @autoclosure () -> String, timeout: Duration = .seconds(20), every interval: Duration = .milliseconds(100),
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return }
        if ContinuousClock.now >= deadline {
            throw TestSetupError("timed out after \(timeout) waiting for \(what())")
        }
        try await Task.sleep(for: interval)
    }
}
