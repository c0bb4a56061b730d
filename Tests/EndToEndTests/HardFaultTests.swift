import AutoHealCore
import AutoHealTestSupport
import Foundation
import Journal
import Logging
import Messaging
import Testing

/// Faults of the engine's own machine: the disk under the journal full, a log file that
/// cannot be opened. Healing goes on; the operator is told.
@Suite("Hard faults of the engine's machine", .ownThreads, .timeLimit(.minutes(3)))
struct HardFaultTests {
    static func read(_ url: URL) -> String { (try? String(contentsOf: url, encoding: .utf8)) ?? "" }

    /// A small tmpfs of the test's own as the state directory, filled up after the journal opened.
    @Test func aFullDiskUnderTheJournalIsAWarningAndHealingGoesOn() async throws {
        try await TestEnvironment.requireDocker()
        try await RabbitAdmin.withVhost("diskfull") { vhost in
            let directory = try TestEnvironment.temporaryDirectory("autoheal-diskfull")
            defer { try? FileManager.default.removeItem(at: directory) }
            let state = directory.appendingPathComponent("state")
            try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
            let (mounted, output) = try spawnAndWait(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", state.path])
            guard mounted == 0 else { throw TestSetupError("cannot mount a tmpfs for the full disk (needs root): \(output)") }
            defer { _ = try? spawnAndWait(["umount", "-l", state.path]) }

            let container = try TestContainer(name: TestEnvironment.uniqueName("diskfull-nova_api"))
            defer { container.remove() }
            try await container.waitFor(health: "healthy")
            let config = try TestConfig.write(
                in: directory, vhost: vhost, control: [container.name],
                overrides: ["engine.state_dir": state.path, "schedule.container_auto_heal": "0"])
            let engine = try DaemonProcess("autoheal-engine", arguments: ["--config", config], outputDirectory: directory)
            let queueLog = directory.appendingPathComponent("logs/engine-queue.log")
            let controlLog = directory.appendingPathComponent("logs/engine-control.log")
            try await waitUntil("the engine to consume") { Self.read(queueLog).contains("consuming") }
            #expect(Self.read(queueLog).contains("decision journal open"))

            // Fill the disk: dd stops at ENOSPC.
            _ = try spawnAndWait(["dd", "if=/dev/zero", "of=\(state.path)/filler", "bs=64k"])
            let publisher = HealRequestPublisher(settings: TestEnvironment.brokerSettings(vhost), logger: Logger(label: "test"))
            defer { Task { await publisher.shutdown() } }
            let target = TargetKey(host: "unix://\(TestEnvironment.dockerSocket)", container: container.name)

            let before = try container.startedAt
            try container.kill()
            try await container.waitFor(status: "exited")
            let request = Envelope(payload: .containerAutoHeal, scope: .control, target: target)
            try await publisher.publish(request)
            try await waitUntil("the container revived with the disk full", timeout: .seconds(30)) {
                (try? container.status) == "running" && (try? container.startedAt) != before
            }
            try await waitUntil("a warning that the journal cannot be written") {
                (Self.read(controlLog) + Self.read(queueLog)).contains("cannot write the journal")
                    || Self.read(queueLog).contains("cannot record the handled request in the journal")
            }
            #expect(engine.isRunning)

            // Space again: the journal records the next decisions.
            try FileManager.default.removeItem(atPath: state.path + "/filler")
            let again = try container.startedAt
            try container.kill()
            try await container.waitFor(status: "exited")
            let second = Envelope(payload: .containerAutoHeal, scope: .control, target: target)
            try await publisher.publish(second)
            try await waitUntil("the second request in the journal", timeout: .seconds(30)) {
                (try? DecisionJournal(directory: state.path).handledRequests()[second.id]) == 1
            }
            #expect(try container.startedAt != again)
            #expect(try await engine.terminate() == 0)
        }
    }

    /// The log file of an area is a directory: the daemon says so on stdout, once, and heals.
    @Test func aLogFileThatCannotBeOpenedIsAnErrorOnStdoutAndHealingGoesOn() async throws {
        try await TestEnvironment.requireDocker()
        try await RabbitAdmin.withVhost("badlog") { vhost in
            let directory = try TestEnvironment.temporaryDirectory("autoheal-badlog")
            defer { try? FileManager.default.removeItem(at: directory) }
            try FileManager.default.createDirectory(
                at: directory.appendingPathComponent("logs/engine-control.log"), withIntermediateDirectories: true)
            let container = try TestContainer(name: TestEnvironment.uniqueName("badlog-nova_api"))
            defer { container.remove() }
            try await container.waitFor(health: "healthy")
            let config = try TestConfig.write(in: directory, vhost: vhost, control: [container.name])
            let engine = try DaemonProcess("autoheal-engine", arguments: ["--config", config], outputDirectory: directory)
            let queueLog = directory.appendingPathComponent("logs/engine-queue.log")
            try await waitUntil("the engine to consume") { Self.read(queueLog).contains("consuming") }
            let before = try container.startedAt
            try container.kill()
            try await container.waitFor(status: "exited")
            let publisher = HealRequestPublisher(settings: TestEnvironment.brokerSettings(vhost), logger: Logger(label: "test"))
            defer { Task { await publisher.shutdown() } }
            try await publisher.publish(
                Envelope(
                    payload: .containerAutoHeal, scope: .control,
                    target: TargetKey(host: "unix://\(TestEnvironment.dockerSocket)", container: container.name)))
            try await waitUntil("the container revived", timeout: .seconds(30)) {
                (try? container.status) == "running" && (try? container.startedAt) != before
            }
            // The container runs before the engine logs that it started it: wait for the line.
            try await waitUntil("the control area's line on stdout", timeout: .seconds(15)) {
                engine.output.contains("revived container host=unix://\(TestEnvironment.dockerSocket) container=\(container.name) ")
            }
            let stdout = engine.output
            let errors = stdout.split(separator: "\n").filter { $0.contains("ERROR logging cannot open log file") }
            #expect(errors.count == 1, "\(errors)")
            #expect(errors.first?.contains("engine-control.log") == true && errors.first?.contains("Is a directory") == true)
            #expect(try await engine.terminate() == 0)
        }
    }
}
