import AutoHealCore
import AutoHealTestSupport
import DockerAPI
import Foundation
import Handlers
import Journal
import Policy
import Logging
import Testing

/// `libvirt_suspend_wakeup` against the host's real libvirtd with tiny disk-less TCG domains,
/// through a `nova_libvirt` test container running the host's virsh over a bind-mounted
/// /run/libvirt. Serialized: the waker sees every domain of the host, so these tests must
/// not see each other's.
@Suite("Libvirt wake-up", .ownThreads, .serialized, .libvirtDomains, .timeLimit(.minutes(3)))
struct LibvirtWakerTests {
    struct Fixture {
        let libvirtContainer: String
        let novaCompute: TestContainer
        let waker: LibvirtWaker
        let logs: LogCapture
        let notifier: RecordingNotifier
        let journal: DecisionJournal

        func remove() {
            _ = try? DockerCLI.run(["rm", "-f", libvirtContainer])
            novaCompute.remove()
        }
    }

    static func fixture(
        image: String = "autoheal/nova-libvirt:latest", extra: String = "", maxAttempts: Int = 3, backoff: Int = 10
    ) async throws -> Fixture {
        try await TestEnvironment.requireDocker()
        if image == "autoheal/nova-libvirt:latest" { try Libvirt.require() }
        let prefix = TestEnvironment.uniqueName("lv")
        let libvirtName = "\(prefix)-nova_libvirt"
        try DockerCLI.run([
            "run", "-d", "--name", libvirtName, "--network", "none", "--label", "autoheal-test=1",
            "-v", "/run/libvirt:/run/libvirt", image, "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done",
        ])
        let novaCompute = try TestContainer(name: "\(prefix)-nova_compute")
        let config = try AutoHealConfig.parse(
            """
            [hosts]
            control_hosts =
            compute_hosts = unix:///var/run/docker.sock
            [libvirt]
            container = \(libvirtName)
            nova_compute_container = \(novaCompute.name)
            command_timeout = 20
            \(extra)
            [policy]
            backoff_initial = \(backoff)
            max_attempts = \(maxAttempts)
            [engine]
            stop_timeout = 5
            """, path: "test.conf")
        let logs = LogCapture()
        let notifier = RecordingNotifier()
        let journal = try DecisionJournal.inMemory()
        let logger = logs.logger("test.compute")
        let executor = TestHealing.executor(config, journal: journal, notifier: notifier, logger: logger)
        let waker = TestHealing.waker(config, executor: executor, logger: logger)
        return Fixture(
            libvirtContainer: libvirtName, novaCompute: novaCompute, waker: waker, logs: logs, notifier: notifier, journal: journal)
    }

    static let request = Envelope(payload: .libvirtSuspendWakeup, scope: .compute)

    @Test func runningShutOffAndUserPausedAreLeftAloneUnlessUserPausedMayBeResumed() async throws {
        let f = try await Self.fixture()
        defer { f.remove() }
        let prefix = TestEnvironment.uniqueName("ah-lv")
        let running = try Libvirt.create(name: "\(prefix)-running")
        let paused = try Libvirt.create(name: "\(prefix)-paused")
        let shutOff = try Libvirt.create(name: "\(prefix)-off", start: false)
        defer { [running, paused, shutOff].forEach(Libvirt.remove) }
        try Libvirt.virsh(["suspend", paused])
        #expect(try Libvirt.state(paused) == "paused (user)")
        let computeStart = try f.novaCompute.startedAt

        let outcome = await f.waker.handle(Self.request)
        #expect(outcome.acted == 0 && outcome.failed == 0)
        #expect(try Libvirt.state(running).hasPrefix("running"))
        #expect(try Libvirt.state(paused) == "paused (user)")
        #expect(try Libvirt.state(shutOff).hasPrefix("shut off"))
        #expect(try f.novaCompute.startedAt == computeStart)  // nothing changed: nova_compute left alone

        // With resume_user_paused = true the paused one, and only it, is resumed; nova_compute restarts.
        let permissive = try await Self.fixture(extra: "resume_user_paused = true")
        defer { permissive.remove() }
        let permissiveStart = try permissive.novaCompute.startedAt
        let second = await permissive.waker.handle(Self.request)
        #expect(second.acted == 2)  // the resume, and nova_compute's restart
        #expect(try Libvirt.state(paused).hasPrefix("running"))
        #expect(try Libvirt.state(shutOff).hasPrefix("shut off"))
        let woke = try #require(permissive.logs.events(.notice, containing: "woke domain").first)
        #expect(woke.metadata["domain"] == paused && woke.metadata["action"] == "resume" && woke.metadata["seen"] == "paused (user)")
        let after = try #require(permissive.logs.events(.info, containing: "domain state after waking").first)
        #expect(after.metadata["domain"] == paused && after.metadata["state_after"]?.hasPrefix("running") == true)
        #expect(
            permissive.logs.events(.notice, containing: "restarted nova_compute").first?.metadata["container"]
                == permissive.novaCompute.name)
        #expect(try permissive.novaCompute.startedAt != permissiveStart)
    }

    @Test func aTransientIOErrorPauseIsResumed() async throws {
        let f = try await Self.fixture()
        defer { f.remove() }
        let disk = try FailingNBDDisk(port: 10821, transient: true)
        let uuid = try Libvirt.create(name: TestEnvironment.uniqueName("ah-lv-ioonce"), nbdPort: disk.port)
        defer {
            Libvirt.remove(uuid)
            withExtendedLifetime(disk) {}
        }
        try await waitUntil("the domain to pause on the I/O error") { (try? Libvirt.state(uuid)) == "paused (I/O error)" }

        let outcome = await f.waker.handle(Self.request)
        #expect(outcome.acted == 2)  // the resume, and nova_compute's restart
        try await waitUntil("the domain to stay running", timeout: .seconds(5)) { (try? Libvirt.state(uuid))?.hasPrefix("running") == true }
        #expect(f.logs.events(.notice, containing: "woke domain").first?.metadata["seen"] == "paused (I/O error)")
    }

    @Test func aDomainThatKeepsPausingIsQuarantinedNotResumedForever() async throws {
        let f = try await Self.fixture(maxAttempts: 2, backoff: 1)
        defer { f.remove() }
        let disk = try FailingNBDDisk(port: 10822, transient: false)
        let uuid = try Libvirt.create(name: TestEnvironment.uniqueName("ah-lv-ioalways"), nbdPort: disk.port)
        defer {
            Libvirt.remove(uuid)
            withExtendedLifetime(disk) {}
        }
        for attempt in 1...2 {
            try await waitUntil("the domain to pause (attempt \(attempt))") { (try? Libvirt.state(uuid)) == "paused (I/O error)" }
            if attempt == 2 { try await Task.sleep(for: .seconds(1)) }  // the back-off after the first wake-up
            _ = await f.waker.handle(Self.request)
        }
        try await waitUntil("the domain to pause again") { (try? Libvirt.state(uuid)) == "paused (I/O error)" }
        let wakeUps = f.logs.all.filter { $0.metadata["domain"] == uuid && $0.metadata["command"] == "virsh resume \(uuid)" }.count
        #expect(wakeUps == 2)

        let outcome = await f.waker.handle(Self.request)
        #expect(outcome.acted == 0)
        let quarantine = f.logs.events(.error, containing: "domain needs a person")
        #expect(quarantine.count == 1 && quarantine.first?.metadata["domain"] == uuid)
        #expect(f.logs.all.filter { $0.metadata["command"] == "virsh resume \(uuid)" }.count == wakeUps)  // no third resume
        #expect(try Libvirt.state(uuid) == "paused (I/O error)")
        _ = await f.waker.handle(Self.request)
        #expect(f.logs.events(.error, containing: "domain needs a person").count == 1)  // said once, not every period
        // Told to a person once, and journaled each time, by UUID.
        #expect(f.notifier.all.count == 1 && f.notifier.all[0].contains("domain:\(uuid)"))
        let rows = try f.journal.history(target: "domain:\(uuid)")
        #expect(rows.filter { $0.decision == .act && $0.action == "resume" }.count == 2)
        #expect(rows.filter { $0.decision == .quarantined }.count == 2)
    }

    /// A pmsuspended domain needs a guest agent in a real guest OS, which cannot run here:
    /// this uses a second container whose `virsh` (scripts/standins/virsh-pmsuspended)
    /// prints what virsh documents for one pmsuspended domain.
    @Test func aPowerSuspendedDomainIsWokenWithDompmwakeup() async throws {
        let f = try await Self.fixture(image: "autoheal/virsh-pmsuspended:latest")
        defer { f.remove() }
        let outcome = await f.waker.handle(Self.request)
        #expect(outcome.acted == 2)  // the wake-up, and nova_compute's restart
        let calls = try DockerCLI.run(["exec", f.libvirtContainer, "cat", "/tmp/virsh.calls"]).split(separator: "\n")
        #expect(calls.contains("dompmwakeup 3a1b5c7d-9e2f-4a6b-8c0d-1e3f5a7b9c2d"))
        let woke = try #require(f.logs.events(.notice, containing: "woke domain").first)
        #expect(woke.metadata["action"] == "dompmwakeup" && woke.metadata["seen"] == "pmsuspended (unknown)")
    }
}
