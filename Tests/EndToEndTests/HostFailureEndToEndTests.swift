import AutoHealTestSupport
import Foundation
import Testing

/// compute_host_failure against a real Nova (scripts/lab: nova-api, conductor, scheduler,
/// Placement, MariaDB, two nova-compute with the fake driver), with the built daemons. Each
/// compute "host" is reached by the healer through a TCP proxy in front of the Docker API, which
/// the test cuts; the host failing for Nova is its nova-compute container stopped. The fence is
/// a script that records its calls.
@Suite("Compute host failure end to end (real Nova)", .ownThreads, .serialized, .timeLimit(.minutes(8)))
struct HostFailureEndToEndTests {
    static func read(_ url: URL) -> String { (try? String(contentsOf: url, encoding: .utf8)) ?? "" }

    /// The stack, the proxies, the fence script, the webhook and the healer's config.
    struct Cloud {
        let directory: URL
        let nova: NovaLabStack
        let proxies: [String: TCPProxy]
        let webhook: WebhookReceiver
        let fenceCalls: URL
        let healerVhost: String

        init(directory: URL, novaVhost: String, healerVhost: String) async throws {
            try await TestEnvironment.requireDocker()
            self.directory = directory
            self.healerVhost = healerVhost
            nova = try await NovaLabStack(prefix: TestEnvironment.uniqueName("hf"), vhost: novaVhost)
            proxies = ["compute-1": try await TCPProxy(to: 2375), "compute-2": try await TCPProxy(to: 2375)]
            webhook = try await WebhookReceiver()
            fenceCalls = directory.appendingPathComponent("fence.calls")
            for (name, exit) in [("fence-ok.sh", 0), ("fence-fails.sh", 1)] {
                let script = directory.appendingPathComponent(name).path
                // It also keeps what of the engine's start-up variables it inherited: none, or a
                // fence tool that relies on GnuTLS's implicit start-up would fail (CDaemonStartup).
                let startup = "^(GNUTLS_NO_IMPLICIT_INIT|AUTOHEAL_STARTED_AGAIN)="
                try """
                #!/bin/sh
                echo "$@" >> \(fenceCalls.path)
                env | grep -E '\(startup)' >> \(fenceCalls.path).environment
                exit \(exit)

                """.write(toFile: script, atomically: true, encoding: .utf8)
                chmod(script, 0o755)
            }
        }

        /// A healer config: compute hosts behind the proxies, Nova with token `admin`.
        func config(_ name: String, fence: String = "fence-ok.sh", extra: [String: String] = [:]) throws -> String {
            var keys = [
                "hosts.compute_hosts":
                    "compute-1=127.0.0.1:\(proxies["compute-1"]!.port), compute-2=127.0.0.1:\(proxies["compute-2"]!.port)",
                "hosts.docker_timeout": "3", "hosts.docker_connect_timeout": "2",
                "schedule.container_auto_heal": "0", "schedule.compute_host_failure": "2", "schedule.allocation_heal": "0",
                "nova.auth": "token", "nova.token": "admin", "nova.endpoint": nova.endpoint,
                "host_failure.host_down_after": "5", "host_failure.fence": directory.appendingPathComponent(fence).path,
                "host_failure.evacuation_timeout": "120", "notify.webhook_url": webhook.url,
                "placement.container": nova.controller, "placement.skip_port_allocations": "true",
            ]
            keys.merge(extra) { $1 }
            return try TestConfig.write(in: directory, name: name, vhost: healerVhost, control: [], overrides: keys)
        }

        var computeLog: String { HostFailureEndToEndTests.read(directory.appendingPathComponent("logs/engine-compute.log")) }
        var fenced: [String] { HostFailureEndToEndTests.read(fenceCalls).split(separator: "\n").map(String.init) }
        /// The engine's start-up variables the fence commands inherited (none expected).
        var fenceInherited: String { HostFailureEndToEndTests.read(fenceCalls.appendingPathExtension("environment")) }

        /// compute-1 fails: its Docker API stops answering, and Nova stops hearing its nova-compute.
        func fail(_ host: String) async throws {
            try await proxies[host]!.cut()
            try nova.stopCompute(host)
        }

        func remove() {
            nova.remove()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    static func withCloud(_ name: String, _ body: (Cloud) async throws -> Void) async throws {
        try await RabbitAdmin.withVhost("hf-nova") { novaVhost in
            try await RabbitAdmin.withVhost("hf-\(name)") { healerVhost in
                let directory = try TestEnvironment.temporaryDirectory("autoheal-hf-\(name)")
                let cloud = try await Cloud(directory: directory, novaVhost: novaVhost, healerVhost: healerVhost)
                defer { cloud.remove() }
                do {
                    try await body(cloud)
                } catch {
                    Issue.record("compute log:\n\(cloud.computeLog.suffix(4000))\n\(cloud.nova.logs())")
                    throw error
                }
            }
        }
    }

    @Test func aHostDownOnBothSidesIsFencedAndItsServerEvacuatedWhileOneSideAloneIsAWarning() async throws {
        try await Self.withCloud("evacuate") { c in
            let server = try await c.nova.boot(on: "compute-1")
            let config = try c.config("auto_heal.conf", extra: ["schedule.allocation_heal": "3"])
            let engine = try DaemonProcess("autoheal-engine", arguments: ["--config", config], outputDirectory: c.directory)
            let monitor = try DaemonProcess("autoheal-monitor", arguments: ["--config", config], outputDirectory: c.directory)

            // The Docker side alone: a warning and one notification, nothing else.
            try await c.proxies["compute-1"]!.cut()
            try await waitUntil("the one-sided warning", timeout: .seconds(60)) {
                c.computeLog.contains("one side only says this compute host is down: not evacuating host=compute-1")
                    && c.webhook.bodies.contains { $0.contains("the Docker API does not answer on compute host compute-1") }
            }
            #expect(c.fenced.isEmpty)
            #expect(try await c.nova.server(server) == ("ACTIVE", "compute-1"))
            #expect(try await c.nova.service("compute-1")?.forcedDown == false)

            // Now Nova loses it too: fenced, forced down, evacuated.
            try c.nova.stopCompute("compute-1")
            try await waitUntil("the server to be ACTIVE on compute-2", timeout: .seconds(120), every: .seconds(1)) {
                try await c.nova.server(server) == ("ACTIVE", "compute-2")
            }
            #expect(c.fenced == ["compute-1"])
            #expect(c.fenceInherited.isEmpty)
            #expect(try await c.nova.service("compute-1")?.forcedDown == true)
            try await waitUntil("the evacuation to be reported", timeout: .seconds(60)) {
                c.webhook.bodies.contains {
                    $0.contains("evacuated compute host compute-1") && $0.contains("1 server(s) ACTIVE on other hosts")
                }
            }
            let history = try runProgram("autoheal", ["history", "--host", "compute-1", "--config", config]).output
            for row in [
                "compute-1/fence seen=", "decision=act action=fence result=ok", "compute-1/force_down", "action=force_down result=ok",
                "compute-1/server:\(server)", "action=evacuate result=ok", "reason=\"ACTIVE on compute-2\"",
            ] {
                #expect(history.contains(row), "\(row) in:\n\(history)")
            }
            #expect(c.webhook.bodies.filter { $0.contains("nothing is evacuated") }.count == 1)

            // The allocation left on compute-1's provider is found and deleted by allocation_heal.
            try await waitUntil("allocation_heal to delete what the evacuation left", timeout: .seconds(180), every: .seconds(1)) {
                try await c.nova.allocations(server).count == 1 && c.nova.audit().exitCode == 0
            }
            #expect(
                try runProgram("autoheal", ["history", "--config", config]).output.contains(
                    "consumer:\(server) seen=orphaned decision=changed"))
            #expect(try await monitor.terminate() == 0)
            #expect(try await engine.terminate(timeout: .seconds(60)) == 0)
        }
    }

    @Test func dryRunPauseAFailedFenceAndAPartitionEvacuateNothing() async throws {
        try await Self.withCloud("guards") { c in
            let server = try await c.nova.boot(on: "compute-1")
            try await c.fail("compute-1")
            func stillInPlace() async throws {
                #expect(try await c.nova.server(server).host == "compute-1")
                #expect(try await c.nova.service("compute-1")?.forcedDown == false)
            }

            // Dry run: logged and journaled, nothing done.
            let dry = try c.config("dry.conf", extra: ["policy.dry_run": "true"])
            var engine = try DaemonProcess("autoheal-engine", arguments: ["--config", dry], outputDirectory: c.directory)
            let monitor = try DaemonProcess("autoheal-monitor", arguments: ["--config", dry], outputDirectory: c.directory)
            try await waitUntil("the dry run's would-be fence", timeout: .seconds(90)) {
                c.computeLog.contains("dry run: would fence the host")
            }
            #expect(c.fenced.isEmpty)
            try await stillInPlace()
            #expect(try await engine.terminate(timeout: .seconds(60)) == 0)

            // autoheal pause: the same.
            let acting = try c.config("acting.conf")
            #expect(try runProgram("autoheal", ["pause", "--reason", "maintenance of compute-1", "--config", acting]).status == 0)
            engine = try DaemonProcess("autoheal-engine", arguments: ["--config", acting], outputDirectory: c.directory)
            try await waitUntil("the paused would-be fence", timeout: .seconds(90)) {
                c.computeLog.contains("healing paused: would fence the host")
            }
            #expect(c.fenced.isEmpty)
            try await stillInPlace()
            #expect(try await engine.terminate(timeout: .seconds(60)) == 0)
            #expect(try runProgram("autoheal", ["resume", "--config", acting]).status == 0)
            let history = try runProgram("autoheal", ["history", "--host", "compute-1", "--config", acting]).output
            #expect(history.contains("compute-1/fence") && history.contains("decision=dry_run") && history.contains("decision=paused"))

            // A fence that fails: no force-down, no evacuation, a person is told.
            let failing = try c.config("failing.conf", fence: "fence-fails.sh")
            engine = try DaemonProcess("autoheal-engine", arguments: ["--config", failing], outputDirectory: c.directory)
            try await waitUntil("the failed fence", timeout: .seconds(90)) {
                c.computeLog.contains("fence failed: not evacuating")
                    && c.webhook.bodies.contains { $0.contains("could not fence compute host compute-1") }
            }
            #expect(c.fenced.first == "compute-1")
            try await stillInPlace()
            #expect(try await engine.terminate(timeout: .seconds(60)) == 0)

            // Both hosts down with max_hosts_down = 1: the healer takes itself for the one cut off.
            try await c.fail("compute-2")
            let fencedBefore = c.fenced.count
            engine = try DaemonProcess("autoheal-engine", arguments: ["--config", acting], outputDirectory: c.directory)
            try await waitUntil("the partition notice", timeout: .seconds(90)) {
                c.computeLog.contains("this healer may be the one cut off")
                    && c.webhook.bodies.contains { $0.contains("may be cut off itself") }
            }
            #expect(c.fenced.count == fencedBefore)
            try await stillInPlace()
            #expect(try await engine.terminate(timeout: .seconds(60)) == 0)
            #expect(try await monitor.terminate() == 0)
        }
    }
}
