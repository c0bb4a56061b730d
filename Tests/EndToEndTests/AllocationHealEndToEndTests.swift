import AutoHealTestSupport
import Foundation
import Testing

/// `allocation_heal` end to end: the monitor's schedule, RabbitMQ and the engine against the
/// real nova-manage and Placement of a Nova lab container, asserted on Placement's own state.
@Suite("Allocation heal end to end (real nova-manage)", .ownThreads, .timeLimit(.minutes(6)))
struct AllocationHealEndToEndTests {
    static func read(_ url: URL) -> String { (try? String(contentsOf: url, encoding: .utf8)) ?? "" }

    /// A lab container, and an engine and a monitor sending allocation_heal every 2 s.
    struct Run {
        let directory: URL
        let lab: NovaLabContainer
        let config: String
        let engine: DaemonProcess
        let monitor: DaemonProcess
        var control: String { AllocationHealEndToEndTests.read(directory.appendingPathComponent("logs/engine-control.log")) }
        var queue: String { AllocationHealEndToEndTests.read(directory.appendingPathComponent("logs/engine-queue.log")) }

        init(_ name: String, vhost: String, overrides: [String: String] = [:], control: [String] = []) async throws {
            try await TestEnvironment.requireDocker()
            directory = try TestEnvironment.temporaryDirectory("autoheal-alloc-\(name)")
            lab = try await NovaLabContainer(name: TestEnvironment.uniqueName("alloc-\(name)-nova_api"))
            var keys = [
                "schedule.allocation_heal": "2", "schedule.container_auto_heal": "0", "placement.container": lab.name,
                "placement.skip_port_allocations": "true", "placement.command_timeout": "60",
            ]
            keys.merge(overrides) { $1 }
            config = try TestConfig.write(in: directory, vhost: vhost, control: control, overrides: keys)
            engine = try DaemonProcess("autoheal-engine", arguments: ["--config", config], outputDirectory: directory)
            monitor = try DaemonProcess("autoheal-monitor", arguments: ["--config", config], outputDirectory: directory)
        }

        /// SIGTERM lets a running nova-manage call finish (up to its command_timeout) before the engine acks and exits.
        func stop() async throws {
            #expect(try await monitor.terminate() == 0)
            #expect(try await engine.terminate(timeout: DaemonProcess.engineStopGrace) == 0)
        }

        func remove() {
            lab.remove()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// Runs `body` with a fresh vhost and run, and says what the engine said if it fails.
    static func withRun(
        _ name: String, overrides: [String: String] = [:], control: [String] = [], _ body: (Run) async throws -> Void
    ) async throws {
        try await RabbitAdmin.withVhost("alloc-\(name)") { vhost in
            let run = try await Run(name, vhost: vhost, overrides: overrides, control: control)
            defer { run.remove() }
            do {
                try await body(run)
                try await run.stop()
            } catch {
                Issue.record("engine output:\n\(run.engine.output.suffix(3000))")
                throw error
            }
        }
    }

    @Test func orphansAreDeletedMissingAllocationsCreatedAndTheNextRunIsClean() async throws {
        try await Self.withRun("heal") { r in
            let first = try r.lab.orphan(), second = try r.lab.orphan()
            let server = try r.lab.instanceWithoutAllocations()
            try await waitUntil("Placement to be healed", timeout: .seconds(180), every: .seconds(1)) {
                try r.lab.allocations(first.consumer).isEmpty && r.lab.allocations(second.consumer).isEmpty
                    && r.lab.allocations(server.instance) == [server.provider: ["VCPU": 1, "MEMORY_MB": 512]]
            }
            // The next run finds nothing to do.
            let healedAt = r.control.count
            try await waitUntil("a clean run after the heal", timeout: .seconds(90), every: .seconds(1)) {
                let after = String(r.control.dropFirst(healedAt))
                return after.contains("no orphaned allocations") && after.contains("no missing allocations")
            }
            let history = try runProgram("autoheal", ["history", "--config", r.config]).output
            for consumer in [first.consumer, second.consumer] {
                #expect(history.contains("/consumer:\(consumer) seen=orphaned decision=changed action=audit --delete result=ok"))
            }
            #expect(history.contains("/instance:\(server.instance) seen=no allocations decision=changed action=heal_allocations"))
        }
    }

    @Test func placementStoppedIsAnErrorEachRunAndTheHealGoesOnWhenItIsBack() async throws {
        try await Self.withRun("stopped") { r in
            let orphan = try r.lab.orphan()
            try r.lab.placement("stop")
            try await waitUntil("the error of a run without Placement", timeout: .seconds(90), every: .seconds(1)) {
                r.control.contains("nova-manage failed: unhandled exception; no further step this period")
                    && r.control.contains("DiscoveryFailure: Unable to find a version discovery document")
            }
            #expect(!r.control.contains("audit --delete done"))
            try r.lab.placement("start")
            try await waitUntil("the orphan to be deleted once Placement is back", timeout: .seconds(90), every: .seconds(1)) {
                try r.lab.allocations(orphan.consumer).isEmpty
            }
        }
    }

    @Test func placementThatNeverAnswersEndsAtTheTimeoutAndBlocksNothing() async throws {
        let api = try TestContainer(name: TestEnvironment.uniqueName("alloc-hang-nova_conductor"), healthCheck: false)
        defer { api.remove() }
        let overrides = ["placement.command_timeout": "20", "schedule.container_auto_heal": "1"]
        try await Self.withRun("hang", overrides: overrides, control: [api.name]) { r in
            try r.lab.placement("hang")
            try await waitUntil("an allocation heal to start", timeout: .seconds(60)) {
                r.queue.contains("handling request payload=allocation_heal")
            }
            // While nova-manage hangs, the engine still heals a container.
            try api.kill()
            try await api.waitFor(status: "running", timeout: .seconds(30))
            #expect(!r.control.contains("nova-manage did not complete"))
            try await waitUntil("the hanging command to end at its deadline", timeout: .seconds(90), every: .seconds(1)) {
                r.control.contains("nova-manage did not complete") && r.control.contains("did not finish within 20")
            }
        }
    }

    @Test func aMissingToolOrAStoppedContainerIsAnErrorAndNothingElseRuns() async throws {
        try await Self.withRun("broken") { r in
            let orphan = try r.lab.orphan()
            try DockerCLI.run(["exec", r.lab.name, "mv", "/usr/bin/nova-manage", "/usr/bin/nova-manage.gone"])
            try await waitUntil("the error of a container without nova-manage", timeout: .seconds(60), every: .seconds(1)) {
                r.control.contains("could not be started in the container")
            }
            try DockerCLI.run(["stop", "-t", "1", r.lab.name])
            try await waitUntil("the error of a stopped container", timeout: .seconds(60), every: .seconds(1)) {
                r.control.contains("no control host answers with a running \(r.lab.name)")
            }
            // Nothing ran meanwhile: the orphan is still there until a working run deletes it.
            #expect(!r.control.contains("audit --delete done"))
            try DockerCLI.run(["start", r.lab.name])
            try DockerCLI.run(["exec", r.lab.name, "mv", "/usr/bin/nova-manage.gone", "/usr/bin/nova-manage"])
            try await waitUntil("the orphan to be deleted", timeout: .seconds(180), every: .seconds(1)) {
                (try? r.lab.allocations(orphan.consumer))?.isEmpty == true  // Placement starts again with the container
            }
        }
    }
}
