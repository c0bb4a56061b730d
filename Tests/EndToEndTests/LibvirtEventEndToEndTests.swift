import AutoHealCore
import AutoHealTestSupport
import Foundation
import Testing

/// Issue 16: domains woken from libvirt's events, not the sweep. The monitor and the engine
/// run as daemons with the libvirt sweep off (`libvirt_suspend_wakeup = 0`), on the host's
/// libvirtd through a `nova_libvirt` container, with real TCG domains.
@Suite("Libvirt events end to end", .ownThreads, .serialized, .libvirtDomains, .timeLimit(.minutes(4)))
struct LibvirtEventEndToEndTests {
    static func read(_ url: URL) -> String { (try? String(contentsOf: url, encoding: .utf8)) ?? "" }

    @Test func aDomainPausedByQEMUIsResumedFromItsEventAPersonsPauseIsLeftAndAGapIsCaughtUp() async throws {
        try await TestEnvironment.requireDocker()
        try Libvirt.require()
        try await RabbitAdmin.withVhost("lvevents") { vhost in
            let directory = try TestEnvironment.temporaryDirectory("autoheal-lvevents")
            defer { try? FileManager.default.removeItem(at: directory) }
            let prefix = TestEnvironment.uniqueName("lve")
            let libvirtName = "\(prefix)-nova_libvirt"
            try DockerCLI.run([
                "run", "-d", "--name", libvirtName, "--network", "none", "--label", "autoheal-test=1",
                "-v", "/run/libvirt:/run/libvirt", "autoheal/nova-libvirt:latest", "sh", "-c",
                "trap 'exit 0' TERM; while :; do sleep 0.2; done",
            ])
            defer { _ = try? DockerCLI.run(["rm", "-f", libvirtName]) }
            let novaCompute = try TestContainer(name: "\(prefix)-nova_compute")
            defer { novaCompute.remove() }
            let config = try TestConfig.write(
                in: directory, vhost: vhost, control: [],
                overrides: [
                    "hosts.compute_hosts": "unix://\(TestEnvironment.dockerSocket)",
                    "containers.compute": "\(novaCompute.name), \(libvirtName)",
                    "schedule.libvirt_suspend_wakeup": "0", "schedule.container_auto_heal": "0", "schedule.watch_events": "true",
                    "libvirt.container": libvirtName, "libvirt.nova_compute_container": novaCompute.name,
                    "libvirt.restart_nova_compute": "never",
                ])
            let engine = try DaemonProcess("autoheal-engine", arguments: ["--config", config], outputDirectory: directory)
            let monitor = try DaemonProcess("autoheal-monitor", arguments: ["--config", config], outputDirectory: directory)
            let monitorLog = directory.appendingPathComponent("logs/monitor.log")
            let computeLog = directory.appendingPathComponent("logs/engine-compute.log")
            try await waitUntil("the monitor to follow libvirt events", timeout: .seconds(30)) {
                Self.read(monitorLog).contains("following libvirt events")
            }

            // QEMU stops the domain (reason unknown): resumed from the event, within seconds.
            let faulty = try Libvirt.create(name: "\(prefix)-faulty")
            let personal = try Libvirt.create(name: "\(prefix)-personal")
            defer { [faulty, personal].forEach(Libvirt.remove) }
            try Libvirt.stopByQMP(faulty)
            #expect(try Libvirt.state(faulty) == "paused (unknown)")
            try await waitUntil("the QMP-stopped domain resumed from its event", timeout: .seconds(20)) {
                (try? Libvirt.state(faulty))?.hasPrefix("running") == true
            }
            try await waitUntil("the monitor's line for the event") {
                Self.read(monitorLog).contains("domain suspended in libvirt events: targeted wake-up requested")
            }

            // A person pauses a domain: the request comes, the engine leaves it paused.
            try Libvirt.virsh(["suspend", personal])
            try await waitUntil("the engine to look at the domain the person paused", timeout: .seconds(20)) {
                Self.read(computeLog).contains(personal) && Self.read(computeLog).contains("paused (user)")
            }
            #expect(try Libvirt.state(personal) == "paused (user)")

            // The stream is cut (the libvirt container restarts) while the domain pauses again:
            // the reopened stream is followed by a check of every domain of the host.
            try DockerCLI.run(["stop", "-t", "1", libvirtName])
            try Libvirt.stopByQMP(faulty)
            try DockerCLI.run(["start", libvirtName])
            try await waitUntil("the domain paused during the gap resumed by the catch-up", timeout: .seconds(60)) {
                (try? Libvirt.state(faulty))?.hasPrefix("running") == true
            }
            #expect(Self.read(monitorLog).contains("libvirt event stream reopened after a break: checking every domain of the host"))
            #expect(try Libvirt.state(personal) == "paused (user)")
            #expect(try await monitor.terminate() == 0)
            #expect(try await engine.terminate() == 0)
        }
    }
}
