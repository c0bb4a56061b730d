import AutoHealTestSupport
import Foundation
import Testing

/// One policy for every handler, with the built daemons against real Docker, a real libvirt
/// domain and the `nova_api` placement container: under `autoheal pause`, under `pause_file`
/// and with `dry_run = true` nothing changes — the container stays exited, the domain stays
/// paused, nova-manage never runs `--delete` or `heal_allocations`, nova_compute is not
/// restarted — and each would-be action is logged and journaled; once healing may act again,
/// each is done and journaled, and Placement itself holds the result.
@Suite("One policy for every handler", .ownThreads, .serialized, .libvirtDomains, .timeLimit(.minutes(8)))
struct PolicyEndToEndTests {
    enum Mode: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case pause = "autoheal pause"
        case pauseFile = "pause_file"
        case dryRun = "dry_run"
        var testDescription: String { rawValue }
    }

    static func read(_ url: URL) -> String { (try? String(contentsOf: url, encoding: .utf8)) ?? "" }

    /// Everything one run needs: the broken parts and the config that names them.
    struct Cloud {
        let directory: URL
        let api: TestContainer
        let placement: NovaLabContainer
        let orphan: (consumer: String, provider: String)
        let server: (instance: String, provider: String)
        let libvirt: String
        let compute: TestContainer
        let domain: String
        let docker = "unix://\(TestEnvironment.dockerSocket)"

        init(directory: URL) async throws {
            self.directory = directory
            let prefix = TestEnvironment.uniqueName("pol")
            api = try TestContainer(name: "\(prefix)-nova_api")
            compute = try TestContainer(name: "\(prefix)-nova_compute")
            placement = try await NovaLabContainer(name: "\(prefix)-placement")
            orphan = try placement.orphan()
            server = try placement.instanceWithoutAllocations()
            libvirt = "\(prefix)-nova_libvirt"
            try DockerCLI.run([
                "run", "-d", "--name", libvirt, "--network", "none", "--label", "autoheal-test=1", "-v", "/run/libvirt:/run/libvirt",
                "autoheal/nova-libvirt:latest", "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done",
            ])
            domain = try Libvirt.create(name: "\(prefix)-vm")
            for c in [api, compute] { try await c.waitFor(health: "healthy") }
        }

        func config(vhost: String, policy: [String: String], name: String = "auto_heal.conf") throws -> String {
            var overrides = [
                "hosts.compute_hosts": docker, "placement.container": placement.name, "placement.skip_port_allocations": "true",
                "libvirt.container": libvirt,
                "libvirt.nova_compute_container": compute.name, "libvirt.command_timeout": "20",
            ]
            for (key, value) in policy { overrides["policy.\(key)"] = value }
            return try TestConfig.write(in: directory, name: name, vhost: vhost, control: [api.name], overrides: overrides)
        }

        /// The faults: the API container killed, the domain stopped under its hypervisor.
        func breakAll() throws {
            try api.kill()
            try Libvirt.stopByQMP(domain)
            #expect(try Libvirt.state(domain) == "paused (unknown)")
        }

        /// Whether Placement still holds the orphan and still lacks the instance's allocations.
        func placementUnchanged() throws -> Bool {
            try !placement.allocations(orphan.consumer).isEmpty && placement.allocations(server.instance).isEmpty
        }

        /// What is not healed yet, by name (empty: everything is).
        func unhealed() throws -> [String] {
            var parts: [String] = []
            if try api.status != "running" { parts.append("\(api.name) not running") }
            if !(try Libvirt.state(domain)).hasPrefix("running") { parts.append("domain not running") }
            if try !placement.allocations(orphan.consumer).isEmpty { parts.append("orphan still allocated") }
            if try placement.allocations(server.instance).isEmpty { parts.append("instance without allocations") }
            return parts
        }

        /// Asks for the two payloads no schedule sends in these tests, at most every 5 s: each
        /// allocation heal runs nova-manage, which takes seconds on a loaded machine.
        func publishRequests(_ config: String, last: inout ContinuousClock.Instant?) throws {
            if let last, ContinuousClock.now - last < .seconds(5) { return }
            last = .now
            try publishRequests(config)
        }

        /// Asks for the two payloads no schedule sends in these tests.
        func publishRequests(_ config: String) throws {
            #expect(try runProgram("autoheal", ["publish", "allocation_heal", "--config", config]).status == 0)
            let domainTarget = "\(docker)/domain:\(domain)"
            #expect(
                try runProgram(
                    "autoheal", ["publish", "libvirt_suspend_wakeup", "--scope", "compute", "--target", domainTarget, "--config", config]
                ).status == 0)
        }

        var controlLog: URL { directory.appendingPathComponent("logs/engine-control.log") }
        var computeLog: URL { directory.appendingPathComponent("logs/engine-compute.log") }
        var queueLog: URL { directory.appendingPathComponent("logs/engine-queue.log") }

        func remove() {
            Libvirt.remove(domain)
            api.remove()
            compute.remove()
            placement.remove()
            _ = try? DockerCLI.run(["rm", "-f", libvirt])
        }
    }

    @Test("nothing changes while healing may not act; everything is done after", arguments: Mode.allCases)
    func nothingChangesUntilHealingMayActAgain(_ mode: Mode) async throws {
        try await TestEnvironment.requireDocker()
        try Libvirt.require()
        try await RabbitAdmin.withVhost("policy") { vhost in
            let directory = try TestEnvironment.temporaryDirectory("autoheal-policy")
            defer { try? FileManager.default.removeItem(at: directory) }
            let cloud = try await Cloud(directory: directory)
            defer { cloud.remove() }
            let pauseFile = directory.appendingPathComponent("deploying").path
            var policy: [String: String] = [:]
            switch mode {
            case .pause: break
            case .pauseFile:
                policy["pause_file"] = pauseFile
                try "kolla-ansible upgrade".write(toFile: pauseFile, atomically: true, encoding: .utf8)
            case .dryRun: policy["dry_run"] = "true"
            }
            let config = try cloud.config(vhost: vhost, policy: policy)
            var engine = try DaemonProcess("autoheal-engine", arguments: ["--config", config], outputDirectory: directory)
            let monitor = try DaemonProcess("autoheal-monitor", arguments: ["--config", config], outputDirectory: directory)
            defer { _ = monitor }
            try await waitUntil("the engine to read the shared state") {
                Self.read(cloud.queueLog).contains("shared state read from the broker")
            }
            if mode == .pause {
                #expect(try runProgram("autoheal", ["pause", "--reason", "kolla-ansible upgrade", "--config", config]).status == 0)
                try await waitUntil("the engine to see the pause") { Self.read(cloud.queueLog).contains("healing paused: engines") }
            }
            let computeStarted = try cloud.compute.startedAt
            try cloud.breakAll()

            // Every handler wants to act, and none does.
            let would = mode == .dryRun ? "dry run: would" : "healing paused: would"
            var published: ContinuousClock.Instant? = nil
            // nova-manage takes 2 s alone and over 30 s beside a whole Nova stack on two cores (CI):
            // the waits below allow for one (would-be) and four (acting) such runs.
            try await waitUntil("each handler's would-be action", timeout: .seconds(120)) {
                try cloud.publishRequests(config, last: &published)
                let control = Self.read(cloud.controlLog), compute = Self.read(cloud.computeLog)
                return control.contains("\(would) start the container host=\(cloud.docker) container=\(cloud.api.name)")
                    && control.contains("\(would) delete orphaned allocations")
                    && compute.contains("\(would) resume the domain")
            }
            #expect(try cloud.api.status == "exited")
            #expect(try Libvirt.state(cloud.domain) == "paused (unknown)")
            #expect(try cloud.placementUnchanged())
            #expect(try cloud.compute.startedAt == computeStarted)
            let decision = mode == .dryRun ? "dry_run" : "paused"
            let held = try runProgram("autoheal", ["history", "--config", config])
            for target in [cloud.api.name, "domain:\(cloud.domain)", "delete_orphans"] {
                #expect(
                    held.output.contains("/\(target) ") && held.output.contains("decision=\(decision)"), "\(target) in:\n\(held.output)")
            }
            #expect(held.output.components(separatedBy: "decision=act ").count == 1, "no action journaled:\n\(held.output)")
            if mode == .pause {
                #expect(try runProgram("autoheal", ["status", "--config", config]).output.contains("paused: paused by"))
            }

            // Healing may act again: each handler's action is done.
            switch mode {
            case .pause: #expect(try runProgram("autoheal", ["resume", "--config", config]).status == 0)
            case .pauseFile: try FileManager.default.removeItem(atPath: pauseFile)
            case .dryRun:
                // SIGTERM lets a running nova-manage call finish before the engine acks and exits.
                #expect(try await engine.terminate(timeout: DaemonProcess.engineStopGrace) == 0)
                let acting = try cloud.config(vhost: vhost, policy: [:], name: "acting.conf")
                engine = try DaemonProcess("autoheal-engine", arguments: ["--config", acting], outputDirectory: directory)
            }
            published = nil
            var unhealed: [String] = []
            do {
                try await waitUntil("each handler to act", timeout: .seconds(200)) {
                    try cloud.publishRequests(config, last: &published)
                    unhealed = try cloud.unhealed()
                    return unhealed.isEmpty
                }
            } catch {
                Issue.record(
                    "still \(unhealed); control log:\n\(Self.read(cloud.controlLog).suffix(6000))\ncompute log:\n\(Self.read(cloud.computeLog).suffix(3000))"
                )
                throw error
            }
            try await waitUntil("nova_compute's restart after the wake-up", timeout: .seconds(30)) {
                try cloud.compute.startedAt != computeStarted
            }
            // Each action is journaled as soon as it returns: wait for the rows, then look at them.
            let expected = [
                (cloud.api.name, "start"), ("domain:\(cloud.domain)", "resume"), ("delete_orphans", "audit --delete"),
                ("heal_allocations", "heal_allocations"), (cloud.compute.name, "restart"),
            ]
            func journaled(_ history: String, _ target: String, _ action: String) -> Bool {
                history.split(separator: "\n").contains {
                    $0.contains("/\(target) ") && $0.contains("decision=act action=\(action) result=ok")
                }
            }
            // Placement runs are journaled with the consumers and instances they touched, in rows
            // written just after the action's own.
            let touched = [
                "/consumer:\(cloud.orphan.consumer) seen=orphaned decision=changed action=audit --delete",
                "/instance:\(cloud.server.instance) seen=no allocations decision=changed",
            ]
            var done = ""
            try? await waitUntil("every action in the journal", timeout: .seconds(20)) {
                done = try runProgram("autoheal", ["history", "--config", config]).output
                return expected.allSatisfy { journaled(done, $0.0, $0.1) } && touched.allSatisfy { done.contains($0) }
            }
            for (target, action) in expected {
                #expect(
                    journaled(done, target, action),
                    "\(target) \(action) in:\n\(done)\ncontrol log:\n\(Self.read(cloud.controlLog).suffix(4000))")
            }
            for row in touched { #expect(done.contains(row), "\(row) in:\n\(done)") }
            // Requests are published every 5 s until all is healed, so an allocation heal run
            // (nova-manage: 20 s a call beside the Nova stack in CI) may be running: it finishes
            // and is acked before the engine exits, within the stop grace the compose file gives.
            #expect(try await engine.terminate(timeout: DaemonProcess.engineStopGrace) == 0)
            #expect(try await monitor.terminate() == 0)
        }
    }
}
