import AutoHealTestSupport
import Foundation
import Testing

/// `autoheal pause` / `resume` from the CLI against running daemons: nothing is acted on
/// while paused (the would-be actions are logged), the pause survives an engine restart and
/// ends by itself; dry run performs no change either.
@Suite("Maintenance pause", .ownThreads, .timeLimit(.minutes(3)))
struct PauseEndToEndTests {
    static func config(_ directory: URL, vhost: String, container: String, policy: [String: String] = [:]) throws -> String {
        try TestConfig.write(
            in: directory, vhost: vhost, control: [container],
            overrides: Dictionary(uniqueKeysWithValues: policy.map { ("policy.\($0.key)", $0.value) }))
    }

    static func read(_ url: URL) -> String { (try? String(contentsOf: url, encoding: .utf8)) ?? "" }

    @Test func pauseHoldsAcrossAnEngineRestartThenExpiresAndResumeEndsIt() async throws {
        try await TestEnvironment.requireDocker()
        try await RabbitAdmin.withVhost("pause") { vhost in
            let directory = try TestEnvironment.temporaryDirectory("autoheal-pause")
            defer { try? FileManager.default.removeItem(at: directory) }
            let container = try TestContainer(name: TestEnvironment.uniqueName("pause-nova_api"))
            defer { container.remove() }
            try await container.waitFor(health: "healthy")
            let config = try Self.config(directory, vhost: vhost, container: container.name)
            let controlLog = directory.appendingPathComponent("logs/engine-control.log")
            let queueLog = directory.appendingPathComponent("logs/engine-queue.log")

            var engine = try DaemonProcess("autoheal-engine", arguments: ["--config", config], outputDirectory: directory)
            let monitor = try DaemonProcess("autoheal-monitor", arguments: ["--config", config], outputDirectory: directory)
            try await waitUntil("the first sweep") { Self.read(controlLog).contains("sweep finished") }

            let pause = try runProgram("autoheal", ["pause", "--for", "30s", "--reason", "deploy in progress", "--config", config])
            #expect(pause.status == 0, "\(pause.output)")
            try await waitUntil("the engine to see the pause") { Self.read(queueLog).contains("healing paused") }
            try container.kill()
            try await waitUntil("the would-be start to be logged") {
                Self.read(controlLog).contains(
                    "healing paused: would start the container host=unix:///var/run/docker.sock container=\(container.name)")
            }
            #expect(try container.status == "exited")
            let status = try runProgram("autoheal", ["status", "--config", config])
            #expect(status.output.contains("paused: paused by") && status.output.contains("deploy in progress"))

            // The pause is on the broker: a restarted engine honours it too.
            #expect(try await engine.terminate() == 0)
            let before = Self.read(controlLog).components(separatedBy: "healing paused: would start").count
            engine = try DaemonProcess("autoheal-engine", arguments: ["--config", config], outputDirectory: directory)
            try await waitUntil("the restarted engine to hold off too") {
                Self.read(controlLog).components(separatedBy: "healing paused: would start").count > before
            }
            #expect(try container.status == "exited")

            // It expires by itself.
            try await container.waitFor(status: "running", timeout: .seconds(60))
            // The line is written once the start returned, after Docker already reports it running.
            try await waitUntil("the revived line") {
                Self.read(controlLog).contains("revived container host=unix:///var/run/docker.sock container=\(container.name)")
            }

            // A pause without end lasts until resume.
            #expect(try runProgram("autoheal", ["pause", "--config", config]).status == 0)
            try await waitUntil("the second pause to be seen") {
                Self.read(queueLog).components(separatedBy: "healing paused: engines").count >= 3
            }
            try container.kill()
            try await waitUntil("a would-be start during the second pause") {
                Self.read(controlLog).components(separatedBy: "healing paused: would start").count > before + 2
            }
            #expect(try container.status == "exited")
            #expect(try runProgram("autoheal", ["resume", "--config", config]).status == 0)
            try await container.waitFor(status: "running", timeout: .seconds(20))

            #expect(try await monitor.terminate() == 0)
            #expect(try await engine.terminate() == 0)
        }
    }

    @Test func anExcludedContainerIsLeftAloneWhileOthersAreHealed() async throws {
        try await TestEnvironment.requireDocker()
        try await RabbitAdmin.withVhost("exclude") { vhost in
            let directory = try TestEnvironment.temporaryDirectory("autoheal-exclude")
            defer { try? FileManager.default.removeItem(at: directory) }
            let prefix = TestEnvironment.uniqueName("excl")
            let excluded = try TestContainer(name: "\(prefix)-nova_api")
            let other = try TestContainer(name: "\(prefix)-cinder_api")
            defer {
                excluded.remove()
                other.remove()
            }
            for c in [excluded, other] { try await c.waitFor(health: "healthy") }
            let config = try Self.config(directory, vhost: vhost, container: "\(excluded.name), \(other.name)")
            let controlLog = directory.appendingPathComponent("logs/engine-control.log")
            let target = "unix:///var/run/docker.sock/\(excluded.name)"
            let exclude = try runProgram(
                "autoheal", ["pause", "--target", target, "--for", "1h", "--reason", "debugging", "--config", config])
            #expect(exclude.status == 0, "\(exclude.output)")
            let engine = try DaemonProcess("autoheal-engine", arguments: ["--config", config], outputDirectory: directory)
            let monitor = try DaemonProcess("autoheal-monitor", arguments: ["--config", config], outputDirectory: directory)
            try await waitUntil("the first sweep") { Self.read(controlLog).contains("sweep finished") }
            try excluded.kill()
            try other.kill()
            try await other.waitFor(status: "running")
            try await waitUntil("the excluded one's would-be start") {
                Self.read(controlLog).contains(
                    "healing paused: would start the container host=unix:///var/run/docker.sock container=\(excluded.name)")
            }
            #expect(try excluded.status == "exited")
            #expect(Self.read(controlLog).contains("excluded by"))
            #expect(try runProgram("autoheal", ["resume", "--target", target, "--config", config]).status == 0)
            try await excluded.waitFor(status: "running", timeout: .seconds(20))
            #expect(try await monitor.terminate() == 0)
            #expect(try await engine.terminate() == 0)
        }
    }

    @Test func aQuarantinedContainerIsReleasedFromTheCLI() async throws {
        try await TestEnvironment.requireDocker()
        try await RabbitAdmin.withVhost("release") { vhost in
            let directory = try TestEnvironment.temporaryDirectory("autoheal-release")
            defer { try? FileManager.default.removeItem(at: directory) }
            let crasher = try TestContainer(name: TestEnvironment.uniqueName("release-nova_api"), command: "exit 1", healthCheck: false)
            defer { crasher.remove() }
            try await crasher.waitFor(status: "exited")
            let config = try Self.config(directory, vhost: vhost, container: crasher.name, policy: ["max_attempts": "2"])
            let controlLog = directory.appendingPathComponent("logs/engine-control.log")
            let engine = try DaemonProcess("autoheal-engine", arguments: ["--config", config], outputDirectory: directory)
            let monitor = try DaemonProcess("autoheal-monitor", arguments: ["--config", config], outputDirectory: directory)
            try await waitUntil("the quarantine", timeout: .seconds(40)) { Self.read(controlLog).contains("container needs a person") }
            let starts = Self.read(controlLog).components(separatedBy: "revived container").count - 1
            #expect(starts == 2)

            // The budget is in the journal: a restarted engine keeps the container quarantined.
            #expect(try await engine.terminate() == 0)
            let stillBefore = Self.read(controlLog).components(separatedBy: "still quarantined").count
            let restarted = try DaemonProcess("autoheal-engine", arguments: ["--config", config], outputDirectory: directory)
            try await waitUntil("three sweeps of the restarted engine") {
                Self.read(controlLog).components(separatedBy: "still quarantined").count >= stillBefore + 3
            }
            #expect(Self.read(controlLog).components(separatedBy: "revived container").count - 1 == starts)
            let history = try runProgram("autoheal", ["history", "--container", crasher.name, "--config", config])
            #expect(history.status == 0)
            #expect(history.output.components(separatedBy: "decision=act action=start result=ok").count - 1 == 2)
            #expect(history.output.contains("decision=quarantined"))
            let status = try runProgram("autoheal", ["status", "--config", config])
            #expect(status.output.contains("quarantined: unix:///var/run/docker.sock/\(crasher.name)"))
            #expect(status.output.contains("last run: container_auto_heal control at "))
            let release = try runProgram("autoheal", ["release", "unix:///var/run/docker.sock/\(crasher.name)", "--config", config])
            #expect(release.status == 0, "\(release.output)")
            try await waitUntil("the release to be applied and the container started again", timeout: .seconds(30)) {
                let log = Self.read(controlLog)
                return log.contains("released by an operator") && log.components(separatedBy: "revived container").count - 1 > starts
            }
            #expect(try await monitor.terminate() == 0)
            #expect(try await restarted.terminate() == 0)
        }
    }

    @Test func pauseFileAndDryRunChangeNothing() async throws {
        try await TestEnvironment.requireDocker()
        try await RabbitAdmin.withVhost("dryrun") { vhost in
            let directory = try TestEnvironment.temporaryDirectory("autoheal-dry")
            defer { try? FileManager.default.removeItem(at: directory) }
            let container = try TestContainer(name: TestEnvironment.uniqueName("dry-nova_api"))
            defer { container.remove() }
            try await container.waitFor(health: "healthy")
            let pauseFile = directory.appendingPathComponent("deploying").path
            try "kolla-ansible deploy".write(toFile: pauseFile, atomically: true, encoding: .utf8)
            let config = try Self.config(directory, vhost: vhost, container: container.name, policy: ["pause_file": pauseFile])
            let controlLog = directory.appendingPathComponent("logs/engine-control.log")
            let engine = try DaemonProcess("autoheal-engine", arguments: ["--config", config], outputDirectory: directory)
            let monitor = try DaemonProcess("autoheal-monitor", arguments: ["--config", config], outputDirectory: directory)
            try container.pause()
            try await waitUntil("the would-be unpause under the pause file") {
                Self.read(controlLog).contains("healing paused: would unpause the container")
                    && Self.read(controlLog).contains("kolla-ansible deploy")
            }
            #expect(try container.status == "paused")
            try FileManager.default.removeItem(atPath: pauseFile)
            try await container.waitFor(status: "running")
            #expect(try await engine.terminate() == 0)

            // Dry run: decides and logs, changes nothing.
            let dry = try Self.config(directory, vhost: vhost, container: container.name, policy: ["dry_run": "true"])
            let dryEngine = try DaemonProcess("autoheal-engine", arguments: ["--config", dry], outputDirectory: directory)
            try container.kill()
            try await waitUntil("three dry-run decisions") {
                Self.read(controlLog).components(separatedBy: "dry run: would start the container").count > 3
            }
            #expect(try container.status == "exited")
            #expect(try await dryEngine.terminate() == 0)
            #expect(try await monitor.terminate() == 0)
        }
    }
}
