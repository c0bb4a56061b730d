import AMQP
import AutoHealCore
import AutoHealTestSupport
import Foundation
import Logging
import Messaging
import Testing

/// Faults injected into real processes: the broker stopped and restarted, the engine killed
/// with SIGKILL in the middle of a handler, two engines with one killed, an engine that was
/// down for several periods.
@Suite("Delivery under faults", .ownThreads, .timeLimit(.minutes(4)))
struct DeliveryFaultTests {
    static func config(
        in directory: URL, broker: String, vhost: String = "/", control: [String], schedule: Int = 0,
        stopTimeout: Int = 5, name: String = "auto_heal.conf", logs: String = "logs", policy: [String: String] = [:]
    ) throws -> String {
        var overrides = [
            "rabbitmq.rabbitmq_addr": broker, "schedule.container_auto_heal": "\(schedule)", "engine.stop_timeout": "\(stopTimeout)",
        ]
        for (key, value) in policy { overrides["policy.\(key)"] = value }
        return try TestConfig.write(in: directory, name: name, vhost: vhost, control: control, logs: logs, overrides: overrides)
    }

    static func read(_ url: URL) -> String { (try? String(contentsOf: url, encoding: .utf8)) ?? "" }

    /// Request ids the engine log says were handled to the end, with how often.
    static func handledIDs(_ log: String) -> [String: Int] {
        var counts: [String: Int] = [:]
        for line in log.split(separator: "\n") where line.contains("request handled and acked") {
            if let range = line.range(of: "request=") {
                let id = line[range.upperBound...].prefix(while: { $0 != " " })
                counts[String(id), default: 0] += 1
            }
        }
        return counts
    }

    @Test func everyRequestIsHandledExactlyOnceAcrossBrokerRestarts() async throws {
        try await TestEnvironment.requireDocker()
        let node = try PrivateRabbitNode(name: "autoheal-restarts", port: 5711)
        defer { node.destroy() }
        let directory = try TestEnvironment.temporaryDirectory("autoheal-restarts")
        defer { try? FileManager.default.removeItem(at: directory) }
        let container = try TestContainer(name: TestEnvironment.uniqueName("restarts-nova_api"))
        defer { container.remove() }
        try await container.waitFor(health: "healthy")

        let config = try Self.config(in: directory, broker: "127.0.0.1:\(node.port)", control: [container.name])
        let engine = try DaemonProcess("autoheal-engine", arguments: ["--config", config], outputDirectory: directory)
        let queueLog = directory.appendingPathComponent("logs/engine-queue.log")
        let settings = AMQPSettings(
            servers: [AMQPServer(host: "127.0.0.1", port: node.port)], heartbeatSeconds: 5, connectTimeout: .seconds(2))
        let publisher = HealRequestPublisher(settings: settings, logger: Logger(label: "test.publisher"))

        let requests = (0..<24).map { _ in
            Envelope(
                payload: .containerAutoHeal, scope: .control,
                target: TargetKey(host: "unix:///var/run/docker.sock", container: container.name))
        }
        // Publish in the background while the broker goes away and comes back three times.
        let publishing = Task {
            for (i, request) in requests.enumerated() {
                try await publisher.publish(request, timeout: .seconds(120))
                if i % 8 == 7 { try await Task.sleep(for: .milliseconds(300)) }
            }
        }
        for cycle in 1...3 {
            try await waitUntil("some requests handled before restart \(cycle)", timeout: .seconds(60)) {
                Self.handledIDs(Self.read(queueLog)).count >= cycle * 4
            }
            try node.stop()
            try await Task.sleep(for: .milliseconds(500))  // the broker stays down a moment
            try node.start()
        }
        try await publishing.value
        await publisher.shutdown()

        try await waitUntil("all \(requests.count) requests handled", timeout: .seconds(90)) {
            Set(Self.handledIDs(Self.read(queueLog)).keys).isSuperset(of: requests.map(\.id))
        }
        // A request the publisher sent again after its confirm was lost with the connection is
        // a second copy in the queue: every copy reaches the engine, which acks a copy of a
        // handled request without running it.
        func ready() -> Int? { try? AMQPQueueInspector.counts(of: Topology.queue(for: .control), settings: settings).ready }
        try await waitUntil("every copy in the control queue delivered", timeout: .seconds(30)) { ready() == 0 }
        #expect(try await engine.terminate() == 0)
        // A copy the engine held but had not yet acked when it stopped goes back to the queue
        // marked redelivered: the next engine finds its request in the journal and acks it
        // without running it (a second run would show in the count below).
        if ready() != 0 {
            let next = try DaemonProcess("autoheal-engine", arguments: ["--config", config], outputDirectory: directory)
            try await waitUntil("the copies left behind acked by the next engine", timeout: .seconds(30)) { ready() == 0 }
            #expect(try await next.terminate() == 0)
        }
        let handled = Self.handledIDs(Self.read(queueLog))
        for request in requests { #expect(handled[request.id] == 1, "request \(request.id) handled \(handled[request.id] ?? 0) times") }
        #expect(ready() == 0)
        let deadLetters = try AMQPQueueInspector.counts(of: Topology.deadLetterQueue, settings: settings)
        #expect(deadLetters.ready == 0)
        #expect(Self.read(queueLog).contains("broker connection lost; reconnecting"))
    }

    @Test func killedEngineMidHandlerLeavesTheMessageAndTheActionIsNotRepeated() async throws {
        try await TestEnvironment.requireDocker()
        try await RabbitAdmin.withVhost("kill9") { vhost in try await Self.killMidHandler(vhost: vhost) }
    }

    /// An engine in the middle of a slow restart: a container that ignores SIGTERM (so the
    /// restart takes the whole 10 s stop timeout, time to interrupt the engine even on a loaded
    /// machine) is made unhealthy, and a targeted request for it is being handled.
    struct RestartInFlight {
        let directory: URL
        let stubborn: TestContainer
        let config: String
        let engine: DaemonProcess
        let request: Envelope
        let startedBefore: String
        var controlLog: URL { directory.appendingPathComponent("logs/engine-control.log") }
        var queueLog: URL { directory.appendingPathComponent("logs/engine-queue.log") }

        init(vhost: String, name: String) async throws {
            directory = try TestEnvironment.temporaryDirectory("autoheal-\(name)")
            stubborn = try TestContainer(
                name: TestEnvironment.uniqueName("\(name)-nova_api"), command: "trap '' TERM; touch /tmp/ok; while :; do sleep 0.2; done")
            try await stubborn.waitFor(health: "healthy")
            try stubborn.breakHealth()
            try await stubborn.waitFor(health: "unhealthy")
            startedBefore = try stubborn.startedAt
            config = try DeliveryFaultTests.config(
                in: directory, broker: "127.0.0.1:5672", vhost: vhost, control: [stubborn.name], stopTimeout: 10)
            engine = try DaemonProcess("autoheal-engine", arguments: ["--config", config], outputDirectory: directory)
            let queueLog = directory.appendingPathComponent("logs/engine-queue.log")
            let controlLog = directory.appendingPathComponent("logs/engine-control.log")
            try await waitUntil("the engine to consume") { DeliveryFaultTests.read(queueLog).contains("consuming") }
            request = Envelope(
                payload: .containerAutoHeal, scope: .control,
                target: TargetKey(host: "unix:///var/run/docker.sock", container: stubborn.name))
            let publisher = HealRequestPublisher(settings: TestEnvironment.brokerSettings(vhost), logger: Logger(label: "test"))
            try await publisher.publish(request)
            await publisher.shutdown()
            try await waitUntil("the restart to begin") { DeliveryFaultTests.read(controlLog).contains("restarting container") }
        }

        func remove() {
            stubborn.remove()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    static func killMidHandler(vhost: String) async throws {
        let f = try await RestartInFlight(vhost: vhost, name: "kill9")
        defer { f.remove() }
        f.engine.signal(SIGKILL)
        try await waitUntil("the first engine to die") { !f.engine.isRunning }
        #expect(!Self.read(f.queueLog).contains("request handled and acked"))

        // Docker finishes the restart on its own; the message is still on the broker.
        try await f.stubborn.waitFor(health: "healthy", timeout: .seconds(40))
        let secondStart = try f.stubborn.startedAt
        #expect(secondStart != f.startedBefore)

        let second = try DaemonProcess("autoheal-engine", arguments: ["--config", f.config], outputDirectory: f.directory)
        try await waitUntil("the redelivered request to be handled") {
            Self.handledIDs(Self.read(f.queueLog))[f.request.id] == 1
        }
        #expect(Self.read(f.queueLog).contains("redelivered=true"))
        // The effect was already there: nothing restarted a second time.
        #expect(try f.stubborn.startedAt == secondStart)
        #expect(!Self.read(f.controlLog).contains("revived container"))
        #expect(try await second.terminate() == 0)
    }

    @Test func sigtermLetsTheRunningHandlerFinishAndAckThenExitsZero() async throws {
        try await TestEnvironment.requireDocker()
        try await RabbitAdmin.withVhost("sigterm") { vhost in try await Self.sigtermMidHandler(vhost: vhost) }
    }

    static func sigtermMidHandler(vhost: String) async throws {
        let f = try await RestartInFlight(vhost: vhost, name: "sigterm")
        defer { f.remove() }
        // SIGTERM while Docker is still stopping the container: the restart finishes, is acked, exit 0.
        #expect(try await f.engine.terminate(timeout: .seconds(40)) == 0)
        #expect(
            Self.read(f.controlLog).contains(
                "revived container host=unix:///var/run/docker.sock container=\(f.stubborn.name) seen=running/unhealthy action=restart result=ok"
            ))
        #expect(Self.handledIDs(Self.read(f.queueLog))[f.request.id] == 1)
        #expect(f.engine.output.contains("engine stopped"))
        #expect(
            try AMQPQueueInspector.counts(of: Topology.queue(for: .control), settings: TestEnvironment.brokerSettings(vhost)).ready == 0)
    }

    @Test func whenTheActiveEngineDiesTheOtherTakesOverAndNothingIsHandledTwice() async throws {
        try await TestEnvironment.requireDocker()
        try await RabbitAdmin.withVhost("sac") { vhost in
            let directory = try TestEnvironment.temporaryDirectory("autoheal-sac")
            defer { try? FileManager.default.removeItem(at: directory) }
            let container = try TestContainer(name: TestEnvironment.uniqueName("sac-nova_api"))
            defer { container.remove() }
            try await container.waitFor(health: "healthy")
            let configA = try Self.config(
                in: directory, broker: "127.0.0.1:5672", vhost: vhost, control: [container.name], name: "a.conf", logs: "logs-a")
            let configB = try Self.config(
                in: directory, broker: "127.0.0.1:5672", vhost: vhost, control: [container.name], name: "b.conf", logs: "logs-b")
            let logA = directory.appendingPathComponent("logs-a/engine-queue.log")
            let logB = directory.appendingPathComponent("logs-b/engine-queue.log")
            let engineA = try DaemonProcess("autoheal-engine", arguments: ["--config", configA], outputDirectory: directory)
            try await waitUntil("engine A to consume") { Self.read(logA).contains("consuming") }
            let engineB = try DaemonProcess("autoheal-engine", arguments: ["--config", configB], outputDirectory: directory)
            try await waitUntil("engine B to consume") { Self.read(logB).contains("consuming") }

            let publisher = HealRequestPublisher(settings: TestEnvironment.brokerSettings(vhost), logger: Logger(label: "test"))
            func request() -> Envelope {
                Envelope(
                    payload: .containerAutoHeal, scope: .control,
                    target: TargetKey(host: "unix:///var/run/docker.sock", container: container.name))
            }
            let before = (0..<3).map { _ in request() }
            for r in before { try await publisher.publish(r) }
            try await waitUntil("the first requests to be handled") {
                let all = Self.handledIDs(Self.read(logA)).merging(Self.handledIDs(Self.read(logB))) { $0 + $1 }
                return before.allSatisfy { all[$0.id] != nil }
            }
            // Exactly one engine is active: the one that came first.
            #expect(Self.handledIDs(Self.read(logA)).count == 3)
            #expect(Self.handledIDs(Self.read(logB)).isEmpty)

            engineA.signal(SIGKILL)
            let takeover = ContinuousClock.now
            let after = (0..<3).map { _ in request() }
            for r in after { try await publisher.publish(r) }
            await publisher.shutdown()
            try await waitUntil("engine B to take over", timeout: .seconds(20)) {
                let b = Self.handledIDs(Self.read(logB))
                return after.allSatisfy { b[$0.id] != nil }
            }
            #expect(ContinuousClock.now - takeover < .seconds(30))
            let all = Self.handledIDs(Self.read(logA)).merging(Self.handledIDs(Self.read(logB))) { $0 + $1 }
            for r in before + after { #expect(all[r.id] == 1, "request \(r.id) handled \(all[r.id] ?? 0) times") }
            #expect(try await engineB.terminate() == 0)
        }
    }

    @Test func anEngineThatTakesOverKeepsTheQuarantineOfTheOne() async throws {
        try await TestEnvironment.requireDocker()
        try await RabbitAdmin.withVhost("budgets") { vhost in try await Self.budgetTakeover(vhost: vhost) }
    }

    static func budgetTakeover(vhost: String) async throws {
        let directory = try TestEnvironment.temporaryDirectory("autoheal-budgets")
        defer { try? FileManager.default.removeItem(at: directory) }
        let crasher = try TestContainer(name: TestEnvironment.uniqueName("budget-nova_api"), command: "exit 1", healthCheck: false)
        defer { crasher.remove() }
        try await crasher.waitFor(status: "exited")
        func config(_ name: String, logs: String) throws -> String {
            try Self.config(
                in: directory, broker: "127.0.0.1:5672", vhost: vhost, control: [crasher.name], schedule: 1, name: name, logs: logs,
                policy: ["max_attempts": "2"])
        }
        let configA = try config("a.conf", logs: "logs-a")
        let configB = try config("b.conf", logs: "logs-b")
        let controlA = directory.appendingPathComponent("logs-a/engine-control.log")
        let controlB = directory.appendingPathComponent("logs-b/engine-control.log")
        let queueB = directory.appendingPathComponent("logs-b/engine-queue.log")
        let engineA = try DaemonProcess("autoheal-engine", arguments: ["--config", configA], outputDirectory: directory)
        try await waitUntil("engine A to consume") {
            Self.read(directory.appendingPathComponent("logs-a/engine-queue.log")).contains("consuming")
        }
        let engineB = try DaemonProcess("autoheal-engine", arguments: ["--config", configB], outputDirectory: directory)
        try await waitUntil("engine B to consume") { Self.read(queueB).contains("consuming") }
        let monitor = try DaemonProcess("autoheal-monitor", arguments: ["--config", configA], outputDirectory: directory)

        try await waitUntil("engine A to quarantine the crasher", timeout: .seconds(40)) {
            Self.read(controlA).contains("container needs a person")
        }
        let starts = try crasher.inspect("{{.State.StartedAt}}")
        engineA.signal(SIGKILL)
        try await waitUntil("engine B to take over and see the crasher quarantined", timeout: .seconds(40)) {
            Self.read(controlB).components(separatedBy: "still quarantined").count > 3
        }
        #expect(Self.read(controlB).contains("restart budget taken over from another engine"))
        #expect(!Self.read(controlB).contains("revived container"))
        #expect(try crasher.inspect("{{.State.StartedAt}}") == starts)
        #expect(try await monitor.terminate() == 0)
        #expect(try await engineB.terminate() == 0)
    }

    @Test func anEngineThatWasDownRunsAtMostOneSweepPerPayloadAndScope() async throws {
        try await TestEnvironment.requireDocker()
        try await RabbitAdmin.withVhost("backlog") { vhost in
            let directory = try TestEnvironment.temporaryDirectory("autoheal-backlog")
            defer { try? FileManager.default.removeItem(at: directory) }
            let container = try TestContainer(name: TestEnvironment.uniqueName("backlog-nova_api"))
            defer { container.remove() }
            try await container.waitFor(health: "healthy")
            let settings = TestEnvironment.brokerSettings(vhost)
            let publisher = HealRequestPublisher(settings: settings, logger: Logger(label: "test"))
            // While no engine runs: three sweeps that expired while waiting, five plain-string
            // sweeps as the old monitor sends them, and two current ones.
            let now = Date()
            for age in 1...3 {
                let old = now.addingTimeInterval(Double(-120 * age))
                try await publisher.publish(
                    Envelope(payload: .containerAutoHeal, scope: .control, issuedAt: old, expiresAt: old.addingTimeInterval(60)))
            }
            for _ in 0..<5 {
                try await RabbitAdmin.publishRaw(
                    "container_auto_heal", exchange: Topology.exchange(for: .control), routingKey: Topology.routingKey(for: .control),
                    vhost: vhost)
            }
            for _ in 0..<2 {
                try await publisher.publish(
                    Envelope(payload: .containerAutoHeal, scope: .control, issuedAt: now, expiresAt: now.addingTimeInterval(300)))
            }
            await publisher.shutdown()
            #expect(try AMQPQueueInspector.counts(of: Topology.queue(for: .control), settings: settings).ready == 10)

            let config = try Self.config(in: directory, broker: "127.0.0.1:5672", vhost: vhost, control: [container.name])
            let engine = try DaemonProcess("autoheal-engine", arguments: ["--config", config], outputDirectory: directory)
            let queueLog = directory.appendingPathComponent("logs/engine-queue.log")
            try await waitUntil("all ten messages settled") {
                let log = Self.read(queueLog)
                let settled =
                    log.components(separatedBy: "request handled and acked").count - 1
                    + log.components(separatedBy: "superseded by a newer run").count - 1
                    + log.components(separatedBy: "moved to the dead-letter queue").count - 1
                return settled == 10
            }
            let log = Self.read(queueLog)
            #expect(log.components(separatedBy: "request handled and acked").count - 1 == 1)
            #expect(log.components(separatedBy: "superseded by a newer run").count - 1 == 6)
            #expect(log.components(separatedBy: "moved to the dead-letter queue").count - 1 == 3)
            let dead = try await RabbitAdmin.take(10, from: Topology.deadLetterQueue, vhost: vhost)
            #expect(dead.count == 3)
            #expect(dead.allSatisfy { $0.headers[Topology.deadLetterReasonHeader]?.hasPrefix("expired at ") == true })
            #expect(try await engine.terminate() == 0)
            #expect(try AMQPQueueInspector.counts(of: Topology.queue(for: .control), settings: settings).ready == 0)
        }
    }
}
