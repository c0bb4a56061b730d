import AutoHealCore
import AutoHealTestSupport
import DockerAPI
import Foundation
import Handlers
import Logging
import Policy
import Testing

/// Rolling across controllers: the same service on two Docker engines (the main one and a
/// private one standing in for a second controller).
@Suite("Rolling across controllers", .ownThreads, .timeLimit(.minutes(3)))
struct RollingTests {
    static func reviver(hosts: [String], container: String, rollingWait: Int, logs: LogCapture, notifier: any Notifier = SilentNotifier())
        throws
        -> ContainerReviver
    {
        let config = try AutoHealConfig.parse(
            """
            [hosts]
            control_hosts = \(hosts.joined(separator: ", "))
            compute_hosts =
            [containers]
            control = \(container)
            [engine]
            stop_timeout = 5
            [policy]
            grace_after_start = 0
            backoff_initial = 0
            rolling_wait = \(rollingWait)
            """, path: "rolling.conf")
        let logger = logs.logger("test.rolling")
        return TestHealing.reviver(config, executor: TestHealing.executor(config, notifier: notifier, logger: logger), logger: logger)
    }

    @Test func theSecondControllerIsRestartedOnlyAfterTheFirstIsHealthy() async throws {
        try await TestEnvironment.requireDocker()
        let second = try PrivateDockerd(name: TestEnvironment.uniqueName("roll"))
        let name = TestEnvironment.uniqueName("roll-nova_scheduler")
        let a = try TestContainer(name: name)
        let b = try TestContainer(name: name, host: second.host)
        defer {
            a.remove()
            b.remove()
        }
        for c in [a, b] {
            try await c.waitFor(health: "healthy")
            try c.breakHealth()
            try await c.waitFor(health: "unhealthy")
        }
        let logs = LogCapture()
        let hosts = ["unix://\(TestEnvironment.dockerSocket)", second.host]
        let reviver = try Self.reviver(hosts: hosts, container: name, rollingWait: 30, logs: logs)
        let outcome = await reviver.handle(Envelope(payload: .containerAutoHeal, scope: .control))
        #expect(outcome.acted == 2)
        // Order of events: one host revived, healthy again, only then the other revived.
        let events = logs.all.filter { $0.message == "revived container" || $0.message.hasPrefix("healthy again") }
        #expect(
            events.map(\.message) == ["revived container", "healthy again: the next host may act on this service", "revived container"])
        #expect(
            events.count == 3 && events[0].metadata["host"] == events[1].metadata["host"]
                && events[2].metadata["host"] != events[0].metadata["host"])
        for c in [a, b] { try await c.waitFor(health: "healthy") }
    }

    @Test func whenTheFirstRestartDoesNotHelpTheOtherIsLeftAloneAndPeopleAreTold() async throws {
        try await TestEnvironment.requireDocker()
        let second = try PrivateDockerd(name: TestEnvironment.uniqueName("rollfail"))
        let receiver = try await WebhookReceiver()
        let name = TestEnvironment.uniqueName("rollfail-mariadb")
        // Never healthy: its check file is never written.
        let command = "trap 'exit 0' TERM; while :; do sleep 0.2; done"
        let a = try TestContainer(name: name, command: command)
        let b = try TestContainer(name: name, command: command, host: second.host)
        defer {
            a.remove()
            b.remove()
        }
        for c in [a, b] { try await c.waitFor(health: "unhealthy") }
        let before = [a.host: try a.startedAt, b.host: try b.startedAt]
        let logs = LogCapture()
        let notifier = WebhookNotifier(url: receiver.url, http: TestEnvironment.http, logger: Logger(label: "test.notify"))
        let reviver = try Self.reviver(
            hosts: ["unix://\(TestEnvironment.dockerSocket)", second.host], container: name, rollingWait: 4, logs: logs, notifier: notifier)
        let outcome = await reviver.handle(Envelope(payload: .containerAutoHeal, scope: .control))
        #expect(outcome.acted == 1 && outcome.skipped == 1)
        let restarted = [a, b].filter { (try? $0.startedAt) != before[$0.host] }
        #expect(restarted.count == 1)
        #expect(!logs.events(.error, containing: "rolling action did not help").isEmpty)
        try await waitUntil("the notification") { receiver.bodies.contains { $0.contains("stopped rolling actions on \(name)") } }
        // Later sweeps do not touch the other controller either.
        _ = await reviver.handle(Envelope(payload: .containerAutoHeal, scope: .control))
        #expect([a, b].filter { (try? $0.startedAt) != before[$0.host] }.count == 1)
    }
}
