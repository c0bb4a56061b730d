import AutoHealTestSupport
import Foundation
import Testing

/// The built autoheal-monitor and autoheal-engine as separate processes, against the real
/// RabbitMQ and Docker engine, as an operator runs them.
@Suite("End to end", .ownThreads, .timeLimit(.minutes(3)))
struct HealEndToEndTests {
    /// Control on the TCP port, compute on the unix socket: both listeners of the local engine.
    static func writeConfig(in directory: URL, vhost: String, control: [String], compute: [String]) throws -> String {
        try TestConfig.write(
            in: directory, vhost: vhost, control: control,
            overrides: [
                "hosts.control_hosts": "127.0.0.1:2375", "hosts.compute_hosts": "unix:///var/run/docker.sock",
                "containers.compute": compute.joined(separator: ", "),
            ])
    }

    @Test func brokenContainersAreHealedByTheDaemons() async throws {
        try await TestEnvironment.requireDocker()
        try await RabbitAdmin.withVhost("e2e") { vhost in
            let directory = try TestEnvironment.temporaryDirectory("autoheal-e2e")
            defer { try? FileManager.default.removeItem(at: directory) }
            let prefix = TestEnvironment.uniqueName("e2e")
            let api = try TestContainer(name: "\(prefix)-nova_api")
            let cinder = try TestContainer(name: "\(prefix)-cinder_api")
            let compute = try TestContainer(name: "\(prefix)-nova_compute")
            defer { [api, cinder, compute].forEach { $0.remove() } }
            for c in [api, cinder, compute] { try await c.waitFor(health: "healthy") }

            let config = try Self.writeConfig(
                in: directory, vhost: vhost, control: [api.name, cinder.name], compute: [compute.name])
            let engine = try DaemonProcess("autoheal-engine", arguments: ["--config", config], outputDirectory: directory)
            let monitor = try DaemonProcess("autoheal-monitor", arguments: ["--config", config], outputDirectory: directory)
            let logs = directory.appendingPathComponent("logs")
            func log(_ file: String) -> String {
                (try? String(contentsOf: logs.appendingPathComponent(file), encoding: .utf8)) ?? ""
            }
            do {
                try await waitUntil("the first sweep on both scopes", timeout: .seconds(60)) {
                    log("engine-control.log").contains("sweep finished") && log("engine-compute.log").contains("sweep finished")
                }
                let apiStart = try api.startedAt
                try api.breakHealth()  // unhealthy → restart
                try cinder.kill()  // exited → start
                try compute.pause()  // paused → unpause

                try await waitUntil("all three to be revived", timeout: .seconds(60)) {
                    let control = log("engine-control.log"), computeLog = log("engine-compute.log")
                    return control.contains(
                        "revived container host=127.0.0.1:2375 container=\(api.name) seen=running/unhealthy action=restart result=ok")
                        && control.contains("revived container host=127.0.0.1:2375 container=\(cinder.name) seen=exited(137)")
                        && computeLog.contains("revived container host=unix:///var/run/docker.sock container=\(compute.name) seen=paused")
                }
                for c in [api, cinder, compute] { try await c.waitFor(health: "healthy") }
                #expect(try api.startedAt != apiStart)
                #expect(log("engine-control.log").contains("action=start result=ok duration="))
                #expect(log("engine-compute.log").contains("action=unpause result=ok duration="))
                #expect(log("engine-queue.log").contains("request handled and acked"))
                #expect(log("monitor.log").contains("published payload=container_auto_heal scope=control result=confirmed"))
                // Standard output carries the same lines.
                #expect(engine.output.contains("revived container host=127.0.0.1:2375 container=\(cinder.name)"))
                // Both daemons started themselves again once, with GnuTLS's start-up skipped
                // (CDaemonStartup); the fence test checks that no child inherits it.
                for daemon in [engine, monitor] {
                    #expect(daemon.startEnvironment.contains("GNUTLS_NO_IMPLICIT_INIT=1"), "\(daemon.name)")
                    #expect(daemon.startEnvironment.contains("AUTOHEAL_STARTED_AGAIN=1"), "\(daemon.name)")
                }
            } catch {
                Issue.record("engine output:\n\(engine.output.suffix(3000))\nmonitor output:\n\(monitor.output.suffix(1500))")
                throw error
            }
            // SIGTERM (what docker stop sends): both exit 0.
            #expect(try await monitor.terminate() == 0)
            #expect(try await engine.terminate() == 0)
            #expect(engine.output.contains("engine stopped"))
        }
    }
}
