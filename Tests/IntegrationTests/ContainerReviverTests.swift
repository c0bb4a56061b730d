import AutoHealCore
import AutoHealTestSupport
import DockerAPI
import Foundation
import HTTP
import Handlers
import Logging
import Policy
import Testing

/// The container revive handler against the real Docker engine, with real health checks.
/// Each test makes its own containers, named after the test.
/// Counts notifications as they are sent (synchronously), and passes them on.
final class CountingNotifier: Notifier, @unchecked Sendable {
    private let inner: any Notifier
    private let lock = NSLock()
    private var sent = 0
    init(_ inner: any Notifier) { self.inner = inner }
    var count: Int { lock.withLock { sent } }
    func notify(_ text: String) {
        lock.withLock { sent += 1 }
        inner.notify(text)
    }
}

@Suite("Container reviver", .ownThreads, .timeLimit(.minutes(3)))
struct ContainerReviverTests {
    static func reviver(
        control: [String], containers: [String], hosts: String = "unix:///var/run/docker.sock", attempts: Int = 3, extra: String = "",
        notifier: any Notifier = SilentNotifier()
    ) throws
        -> ContainerReviver
    {
        let config = try AutoHealConfig.parse(
            """
            [hosts]
            control_hosts = \(hosts)
            compute_hosts =
            docker_timeout = 5
            [containers]
            control = \(containers.joined(separator: ", "))
            [engine]
            stop_timeout = 5
            [policy]
            max_attempts = \(attempts)
            backoff_initial = 0
            \(extra.contains("grace_after_start") ? "" : "grace_after_start = 0")
            \(extra)
            """, path: "test.conf")
        let logger = Logger(label: "test.control")
        return TestHealing.reviver(config, executor: TestHealing.executor(config, notifier: notifier, logger: logger), logger: logger)
    }

    static func sweep() -> Envelope { Envelope(payload: .containerAutoHeal, scope: .control) }

    @Test func eachDockerStateLeadsToTheRightCall() async throws {
        try await TestEnvironment.requireDocker()
        let prefix = TestEnvironment.uniqueName("rv-states")
        let unhealthy = try TestContainer(name: "\(prefix)-unhealthy")
        let killed = try TestContainer(name: "\(prefix)-killed")
        let paused = try TestContainer(name: "\(prefix)-paused")
        let created = try TestContainer(name: "\(prefix)-created", start: false)
        let healthy = try TestContainer(name: "\(prefix)-healthy")
        let plain = try TestContainer(name: "\(prefix)-nocheck", healthCheck: false)
        // Never passes its check, but is inside a long start period: stays "starting".
        let starting = try TestContainer(
            name: "\(prefix)-starting", command: "trap 'exit 0' TERM; while :; do sleep 0.2; done", startPeriod: "120s")
        let all = [unhealthy, killed, paused, created, healthy, plain, starting]
        defer { all.forEach { $0.remove() } }

        for c in [unhealthy, killed, paused, healthy] { try await c.waitFor(health: "healthy") }
        try unhealthy.breakHealth()
        try killed.kill()
        try paused.pause()
        try await unhealthy.waitFor(health: "unhealthy")
        try await killed.waitFor(status: "exited")
        let before = try Dictionary(uniqueKeysWithValues: all.map { ($0.name, try $0.startedAt) })

        let reviver = try Self.reviver(control: [], containers: all.map(\.name))
        let outcome = await reviver.handle(Self.sweep())

        #expect(outcome == HandlerOutcome(checked: 7, acted: 4, failed: 0, skipped: 1))
        try await unhealthy.waitFor(health: "healthy")
        #expect(try unhealthy.startedAt != before[unhealthy.name])  // restarted
        #expect(try killed.status == "running")
        #expect(try paused.status == "running")
        #expect(try paused.startedAt == before[paused.name])  // unpaused, not restarted
        #expect(try created.status == "running")
        for untouched in [healthy, plain, starting] {
            #expect(try untouched.startedAt == before[untouched.name], "\(untouched.name) was touched")
        }
    }

    @Test func missingContainerAndUnreachableHostDoNotStopTheOthers() async throws {
        try await TestEnvironment.requireDocker()
        let prefix = TestEnvironment.uniqueName("rv-errors")
        let down = try TestContainer(name: "\(prefix)-down")
        defer { down.remove() }
        try await down.waitFor(health: "healthy")
        try down.kill()
        try await down.waitFor(status: "exited")

        // 127.0.0.1:1 refuses at once (nothing listens there).
        let reviver = try Self.reviver(
            control: [], containers: [down.name, "\(prefix)-missing"], hosts: "127.0.0.1:1, unix:///var/run/docker.sock")
        let outcome = await reviver.handle(Self.sweep())
        // On the live host: one start, one missing. On the dead host: both fail.
        #expect(outcome == HandlerOutcome(checked: 4, acted: 1, failed: 3, skipped: 0))
        #expect(try down.status == "running")
    }

    @Test func aContainerThatKeepsCrashingIsLeftToAPersonAfterThreeAttempts() async throws {
        try await TestEnvironment.requireDocker()
        let crasher = try TestContainer(name: TestEnvironment.uniqueName("rv-crashloop"), command: "exit 1", healthCheck: false)
        defer { crasher.remove() }
        try await crasher.waitFor(status: "exited")
        let reviver = try Self.reviver(control: [], containers: [crasher.name], attempts: 3)

        var startTimes: Set<String> = [try crasher.startedAt]
        for attempt in 1...3 {
            let outcome = await reviver.handle(Self.sweep())
            #expect(outcome.acted == 1, "attempt \(attempt)")
            // The start succeeds, the process exits 1 again at once.
            try await waitUntil("the crasher to exit again after attempt \(attempt)") {
                (try? crasher.status) == "exited" && !startTimes.contains((try? crasher.startedAt) ?? "")
            }
            startTimes.insert(try crasher.startedAt)
        }
        let lastStart = try crasher.startedAt
        for _ in 1...2 {
            let outcome = await reviver.handle(Self.sweep())
            #expect(outcome == HandlerOutcome(checked: 1, acted: 0, failed: 0, skipped: 1))
        }
        #expect(try crasher.startedAt == lastStart)
        #expect(try crasher.status == "exited")
    }

    @Test func quarantineSendsOneNotification() async throws {
        try await TestEnvironment.requireDocker()
        let receiver = try await WebhookReceiver()
        let crasher = try TestContainer(name: TestEnvironment.uniqueName("rv-notify"), command: "exit 3", healthCheck: false)
        defer { crasher.remove() }
        try await crasher.waitFor(status: "exited")
        let config = try AutoHealConfig.parse("[notify]\nwebhook_url = \(receiver.url)\n", path: "n.conf")
        let webhook = WebhookNotifier(url: config.notify.webhookURL!, http: TestEnvironment.http, logger: Logger(label: "test.notify"))
        let notifier = CountingNotifier(webhook)
        let reviver = try Self.reviver(control: [], containers: [crasher.name], attempts: 2, notifier: notifier)
        for attempt in 1...2 {
            #expect(await reviver.handle(Self.sweep()).acted == 1)
            try await waitUntil("the crasher to exit again after attempt \(attempt)") {
                (try? crasher.status) == "exited" && (try? crasher.inspect("{{.State.ExitCode}}")) == "3"
            }
        }
        for _ in 1...3 { _ = await reviver.handle(Self.sweep()) }  // quarantined: reported once
        #expect(notifier.count == 1)  // reported once, not on every sweep
        try await waitUntil("the notification") { !receiver.bodies.isEmpty }
        #expect(receiver.bodies.count == 1)
        let body = try #require(receiver.bodies.first)
        let text = try #require((try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: String])?["text"])
        #expect(text.contains(crasher.name) && text.contains("needs a person"))
    }

    @Test func stoppedOnPurposeStaysStoppedButAKilledOrFailedOneIsStarted() async throws {
        try await TestEnvironment.requireDocker()
        let prefix = TestEnvironment.uniqueName("rv-purpose")
        let stopped = try TestContainer(name: "\(prefix)-stopped")
        let killed = try TestContainer(name: "\(prefix)-killed")
        let failed = try TestContainer(name: "\(prefix)-failed", command: "sleep 1; exit 1", healthCheck: false)
        defer { [stopped, killed, failed].forEach { $0.remove() } }
        try await stopped.waitFor(health: "healthy")
        try await killed.waitFor(health: "healthy")
        try stopped.stop()  // docker stop: SIGTERM, the service exits 0
        try killed.kill()  // SIGKILL: 137
        for c in [stopped, killed, failed] { try await c.waitFor(status: "exited") }
        let reviver = try Self.reviver(control: [], containers: [stopped.name, killed.name, failed.name])
        let outcome = await reviver.handle(Self.sweep())
        #expect(outcome == HandlerOutcome(checked: 3, acted: 2, failed: 0, skipped: 1))
        #expect(try stopped.status == "exited")
        #expect(try killed.status == "running")
        #expect(try failed.startedAt != "0001-01-01T00:00:00Z")
        let permissive = try Self.reviver(control: [], containers: [stopped.name], extra: "revive_stopped = true")
        #expect(await permissive.handle(Self.sweep()).acted == 1)
        #expect(try stopped.status == "running")
    }

    @Test func aSlowStarterIsNotRestartedWithinItsGrace() async throws {
        try await TestEnvironment.requireDocker()
        // Unhealthy after its start (no start period) until the test lets it come up: a slow
        // service after a deploy, like Kolla's nova_scheduler.
        let slow = try TestContainer(
            name: TestEnvironment.uniqueName("rv-slow"), command: "trap 'exit 0' TERM; while :; do sleep 0.2; done")
        defer { slow.remove() }
        try await slow.waitFor(health: "unhealthy")
        let firstStart = try slow.startedAt
        let reviver = try Self.reviver(control: [], containers: [slow.name], extra: "grace_after_start = 120")
        for _ in 1...3 {
            let outcome = await reviver.handle(Self.sweep())
            #expect(outcome == HandlerOutcome(checked: 1, acted: 0, failed: 0, skipped: 1))
        }
        try DockerCLI.run(["exec", slow.name, "touch", "/tmp/ok"])  // it finishes coming up
        try await slow.waitFor(health: "healthy")
        #expect(try slow.startedAt == firstStart)
        // Past its grace, the same unhealthy container is restarted.
        let strict = try Self.reviver(control: [], containers: [slow.name], extra: "grace_after_start = 0")
        try slow.breakHealth()
        try await slow.waitFor(health: "unhealthy")
        #expect(await strict.handle(Self.sweep()).acted == 1)
    }

    @Test func dryRunChangesNothing() async throws {
        try await TestEnvironment.requireDocker()
        let prefix = TestEnvironment.uniqueName("rv-dry")
        let down = try TestContainer(name: "\(prefix)-down")
        let paused = try TestContainer(name: "\(prefix)-paused")
        defer {
            down.remove()
            paused.remove()
        }
        try await down.waitFor(health: "healthy")
        try await paused.waitFor(health: "healthy")
        try down.kill()
        try paused.pause()
        try await down.waitFor(status: "exited")
        let reviver = try Self.reviver(control: [], containers: [down.name, paused.name], extra: "dry_run = true")
        for _ in 1...2 {
            let outcome = await reviver.handle(Self.sweep())
            #expect(outcome == HandlerOutcome(checked: 2, acted: 0, failed: 0, skipped: 2))
        }
        #expect(try down.status == "exited")
        #expect(try paused.status == "paused")
    }

    @Test func attemptsAreCountedPerContainerNotPerHost() async throws {
        try await TestEnvironment.requireDocker()
        let prefix = TestEnvironment.uniqueName("rv-perctr")
        let crasher = try TestContainer(name: "\(prefix)-crasher", command: "exit 1", healthCheck: false)
        let other = try TestContainer(name: "\(prefix)-other")
        defer {
            crasher.remove()
            other.remove()
        }
        try await other.waitFor(health: "healthy")
        try await crasher.waitFor(status: "exited")
        let reviver = try Self.reviver(control: [], containers: [crasher.name, other.name], attempts: 1)
        _ = await reviver.handle(Self.sweep())  // the crasher's one attempt
        try await waitUntil("the crasher to exit again") { (try? crasher.status) == "exited" }
        try other.kill()
        try await other.waitFor(status: "exited")
        let outcome = await reviver.handle(Self.sweep())
        // The crasher is left alone, the other container on the same host still revived.
        #expect(outcome == HandlerOutcome(checked: 2, acted: 1, failed: 0, skipped: 1))
        #expect(try other.status == "running")
    }

    @Test func aTargetedRequestTouchesOnlyItsTarget() async throws {
        try await TestEnvironment.requireDocker()
        let prefix = TestEnvironment.uniqueName("rv-target")
        let target = try TestContainer(name: "\(prefix)-target")
        let bystander = try TestContainer(name: "\(prefix)-bystander")
        defer {
            target.remove()
            bystander.remove()
        }
        for c in [target, bystander] {
            try await c.waitFor(health: "healthy")
            try c.kill()
            try await c.waitFor(status: "exited")
        }
        let reviver = try Self.reviver(control: [], containers: [target.name, bystander.name])
        let request = Envelope(
            payload: .containerAutoHeal, scope: .control,
            target: TargetKey(host: "unix:///var/run/docker.sock", container: target.name))
        let outcome = await reviver.handle(request)
        #expect(outcome == HandlerOutcome(checked: 1, acted: 1))
        #expect(try target.status == "running")
        #expect(try bystander.status == "exited")
    }
}
