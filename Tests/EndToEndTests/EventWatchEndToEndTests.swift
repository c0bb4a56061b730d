import AutoHealTestSupport
import Foundation
import Testing

/// The monitor following Docker events, as processes: with the periodic sweep turned off, a
/// heal can only come from an event. The monitor and the engine reach Docker through a TCP
/// proxy the test cuts to break the event stream.
@Suite("Docker event watching", .ownThreads, .timeLimit(.minutes(3)))
struct EventWatchEndToEndTests {
    @Test func aBrokenEventStreamIsReopenedAndAFaultDuringTheGapIsStillHealed() async throws {
        try await TestEnvironment.requireDocker()
        try await RabbitAdmin.withVhost("events") { vhost in
            let directory = try TestEnvironment.temporaryDirectory("autoheal-events")
            defer { try? FileManager.default.removeItem(at: directory) }
            let proxy = try await TCPProxy(to: 2375)
            let killed = try TestContainer(name: TestEnvironment.uniqueName("ev-nova_api"))
            let sick = try TestContainer(name: TestEnvironment.uniqueName("ev-cinder_api"))
            let untouched = try TestContainer(name: TestEnvironment.uniqueName("ev-placement_api"))
            defer { [killed, sick, untouched].forEach { $0.remove() } }
            for c in [killed, sick, untouched] { try await c.waitFor(health: "healthy") }

            let host = "127.0.0.1:\(proxy.port)"
            let config = try TestConfig.write(
                in: directory, vhost: vhost, control: [killed.name, sick.name, untouched.name],
                overrides: [
                    "hosts.control_hosts": host, "schedule.container_auto_heal": "0", "schedule.watch_events": "true",
                    "policy.revive_stopped": "true",
                ])
            let engine = try DaemonProcess("autoheal-engine", arguments: ["--config", config], outputDirectory: directory)
            let monitor = try DaemonProcess("autoheal-monitor", arguments: ["--config", config], outputDirectory: directory)
            let logs = directory.appendingPathComponent("logs")
            func log(_ file: String) -> String { (try? String(contentsOf: logs.appendingPathComponent(file), encoding: .utf8)) ?? "" }
            /// Whether one line of the log has every fragment.
            func logged(_ file: String, _ fragments: String...) -> Bool {
                log(file).split(separator: "\n").contains { line in fragments.allSatisfy { line.contains($0) } }
            }
            do {
                try await waitUntil("the monitor to follow the events", timeout: .seconds(30)) {
                    log("monitor.log").contains("following Docker events host=\(host)")
                }
                // Plain case: a kill is seen in the stream and healed, with no sweep at all.
                let untouchedStart = try untouched.startedAt
                try killed.kill()
                try await waitUntil("the killed container to be started from its die event", timeout: .seconds(30)) {
                    logged("monitor.log", "targeted heal requested host=\(host) container=\(killed.name) ", "fault=died(137)")
                        && logged("engine-control.log", "revived container host=\(host) container=\(killed.name) seen=exited(137)")
                }
                try await killed.waitFor(health: "healthy")
                // A paused container has no health check running: its pause event tells.
                try killed.pause()
                try await waitUntil("the paused container to be unpaused from its pause event", timeout: .seconds(30)) {
                    logged("monitor.log", "targeted heal requested host=\(host) container=\(killed.name) ", "fault=paused")
                        && logged(
                            "engine-control.log", "revived container host=\(host) container=\(killed.name) seen=paused",
                            "action=unpause result=ok")
                }
                try await killed.waitFor(status: "running")

                // Break the stream, and let a container turn unhealthy while it is down.
                try await proxy.cut()
                try await waitUntil("the monitor to notice the broken stream", timeout: .seconds(30)) {
                    log("monitor.log").contains("Docker event stream ended; reopening (the periodic sweep covers the gap) host=\(host)")
                }
                try sick.breakHealth()
                try await sick.waitFor(health: "unhealthy")
                let sickStart = try sick.startedAt
                try await proxy.restore()
                // Reopened (from the last event it had, so Docker replays what it still keeps)
                // and every watched container of the host checked: the fault is healed now.
                try await waitUntil("the unhealthy container to be restarted after the stream is back", timeout: .seconds(60)) {
                    log("engine-control.log").contains(
                        "revived container host=\(host) container=\(sick.name) seen=running/unhealthy action=restart result=ok")
                }
                try await sick.waitFor(health: "healthy")
                #expect(try sick.startedAt != sickStart)
                #expect(
                    logged("monitor.log", "event stream reopened after a break: checking every watched container of the host host=\(host)"))
                #expect(log("monitor.log").components(separatedBy: "following Docker events host=\(host)").count >= 3)
                // A targeted request touches only its target; no sweep ran.
                // Targeted requests touch only their targets: the healthy one was looked at (the
                // catch-up), never acted on; no sweep ran.
                #expect(try untouched.startedAt == untouchedStart)
                #expect(!logged("engine-control.log", "revived container", "container=\(untouched.name)"))
                #expect(!log("engine-control.log").contains("checked=3"))
            } catch {
                Issue.record("monitor output:\n\(monitor.output.suffix(3000))\nengine output:\n\(engine.output.suffix(3000))")
                _ = try? await monitor.terminate()
                _ = try? await engine.terminate()
                throw error
            }
            #expect(try await monitor.terminate() == 0)
            #expect(try await engine.terminate() == 0)
        }
    }
}
