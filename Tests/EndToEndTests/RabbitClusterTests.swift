import AMQP
import AutoHealCore
import AutoHealTestSupport
import Foundation
import Journal
import Logging
import Messaging
import Testing

/// The delivery guarantees on a real three-node RabbitMQ cluster (scripts/rabbit-cluster.sh)
/// with quorum queues: the node leading the queues killed in the middle of a burst, a node
/// partitioned away and healed. Exactly once is read from the engine's journal, by request id.
/// The suites share one cluster and cut it up, so they run one after the other.
@Suite("RabbitMQ cluster", .ownThreads, .serialized, .timeLimit(.minutes(6)))
struct RabbitClusterTests {
    struct Daemons {
        let directory: URL
        let container: TestContainer
        let config: String
        let engine: DaemonProcess
        let monitor: DaemonProcess
        var queueLog: URL { directory.appendingPathComponent("logs/engine-queue.log") }
        var controlLog: URL { directory.appendingPathComponent("logs/engine-control.log") }
        var monitorLog: URL { directory.appendingPathComponent("logs/monitor.log") }
        var stateDirectory: String { directory.appendingPathComponent("logs-state").path }

        init(vhost: String, name: String) async throws {
            directory = try TestEnvironment.temporaryDirectory("autoheal-\(name)")
            container = try TestContainer(name: TestEnvironment.uniqueName("\(name)-nova_api"))
            try await container.waitFor(health: "healthy")
            config = try TestConfig.write(
                in: directory, vhost: vhost, control: [container.name],
                overrides: [
                    "rabbitmq.rabbitmq_addr": RabbitCluster.brokerList, "rabbitmq.queue_type": "quorum",
                    "schedule.container_auto_heal": "0", "schedule.watch_events": "true", "engine.concurrency": "32",
                ])
            engine = try DaemonProcess("autoheal-engine", arguments: ["--config", config], outputDirectory: directory)
            monitor = try DaemonProcess("autoheal-monitor", arguments: ["--config", config], outputDirectory: directory)
            let queueLog = self.queueLog, monitorLog = self.monitorLog, monitor = self.monitor
            do {
                try await waitUntil("the engine to consume", timeout: .seconds(30)) { read(queueLog).contains("consuming") }
                try await waitUntil("the monitor to follow Docker events", timeout: .seconds(30)) {
                    read(monitorLog).contains("following Docker events")
                }
            } catch {
                Issue.record("monitor output: \(monitor.output.prefix(2000))")
                remove()
                throw error
            }
        }

        /// How many times the engine's journal says each request was handled to the end.
        func handled() throws -> [String: Int] { try DecisionJournal(directory: stateDirectory).handledRequests() }

        func stop() async throws {
            #expect(try await monitor.terminate() == 0)
            #expect(try await engine.terminate() == 0)
        }

        func remove() {
            container.remove()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// How many of a burst the broker confirmed so far.
    final class Confirmed: Sendable {
        let count = Locked(0)
        var value: Int { count.withLock { $0 } }
    }

    static func read(_ url: URL) -> String { (try? String(contentsOf: url, encoding: .utf8)) ?? "" }

    static func requests(_ count: Int, for container: TestContainer) -> [Envelope] {
        (0..<count).map { _ in
            Envelope(
                payload: .containerAutoHeal, scope: .control,
                target: TargetKey(host: "unix://\(TestEnvironment.dockerSocket)", container: container.name))
        }
    }

    /// Publishes `requests` with confirms, pacing the burst so faults land in its middle;
    /// `published` counts those the broker confirmed.
    static func publish(_ requests: [Envelope], vhost: String, published: Confirmed) -> Task<Void, any Error> {
        Task {
            let publisher = HealRequestPublisher(
                settings: RabbitCluster.settings(vhost), topology: HealTopology.declaration(queueType: "quorum"),
                logger: Logger(label: "test.cluster-publisher"))
            defer { Task { await publisher.shutdown() } }
            for (i, request) in requests.enumerated() {
                try await publisher.publish(request, timeout: .seconds(120))
                published.count.withLock { $0 += 1 }
                if i % 25 == 24 { try await Task.sleep(for: .milliseconds(100)) }
            }
        }
    }

    @Test func aBurstWithTheQueueLeaderKilledIsHandledExactlyOnce() async throws {
        try await TestEnvironment.requireDocker()
        try RabbitCluster.start()
        try await RabbitCluster.withVhost("leader") { vhost in
            let daemons = try await Daemons(vhost: vhost, name: "cluster-leader")
            defer { daemons.remove() }
            let queue = Topology.queue(for: .control)
            let leader = try RabbitCluster.leader(of: queue, vhost: vhost, asking: 1)
            let leaderPID = try RabbitCluster.pid(leader)
            defer { try? RabbitCluster.start() }  // the killed node comes back whatever happens

            let requests = Self.requests(1000, for: daemons.container)
            let published = Confirmed()
            let burst = Self.publish(requests, vhost: vhost, published: published)
            try await waitUntil("300 of the burst confirmed", timeout: .seconds(60)) { published.value >= 300 }
            // The node leading the queue dies without a goodbye (SIGKILL of its Erlang VM).
            kill(leaderPID, SIGKILL)
            let killedAt = published.value
            try await burst.value
            #expect(killedAt < 1000, "the leader was killed after the burst ended")

            try await waitUntil("all 1,000 requests in the journal", timeout: .seconds(120)) {
                Set(try daemons.handled().keys).isSuperset(of: requests.map(\.id))
            }
            let handled = try daemons.handled()
            let twice = requests.filter { handled[$0.id] != 1 }
            #expect(twice.isEmpty, "\(twice.count) requests handled other than once, e.g. \(twice.first?.id ?? "")")
            #expect(handled.count == 1000, "the journal holds requests that were never sent")
            let queueLog = Self.read(daemons.queueLog)
            #expect(queueLog.contains("broker connection lost; reconnecting"))
            print(
                "cluster burst: leader ahc\(leader) killed after \(killedAt) of 1000 confirmed;",
                "\(queueLog.split(separator: "\n").filter { $0.contains("redelivered=true") && $0.contains("acked") }.count) redelivered,",
                "\(queueLog.components(separatedBy: "already handled").count - 1) duplicates acked without running")

            // The monitor and the engine, now on the surviving nodes, still heal a container.
            let before = try daemons.container.startedAt
            try daemons.container.kill()
            try await waitUntil("the killed container revived through the surviving nodes", timeout: .seconds(60)) {
                (try? daemons.container.status) == "running" && (try? daemons.container.startedAt) != before
            }

            // The node comes back and rejoins; nothing was dead-lettered or left behind.
            try RabbitCluster.start()
            #expect(RabbitCluster.isRunning(leader))
            let settings = RabbitCluster.settings(vhost)
            try await waitUntil("the control queue to be empty", timeout: .seconds(30)) {
                (try? AMQPQueueInspector.counts(of: queue, settings: settings).ready) == 0
            }
            #expect(try AMQPQueueInspector.counts(of: Topology.deadLetterQueue, settings: settings).ready == 0)
            try await daemons.stop()
        }
    }

    @Test func aPartitionedNodeIsLeftAndHealedWithoutLosingARequest() async throws {
        try await TestEnvironment.requireDocker()
        try RabbitCluster.start()
        try await RabbitCluster.withVhost("partition") { vhost in
            // An operator's delivery limit on every queue: it must not drop the shared state
            // the engines re-read from its start (a stream has no deliveries to count).
            try RabbitCluster.ctl(
                1, ["set_policy", "-p", vhost, "--apply-to", "queues", "delivery-limit", ".*", #"{"delivery-limit": 1}"#])
            let daemons = try await Daemons(vhost: vhost, name: "cluster-partition")
            defer { daemons.remove() }
            #expect(try runProgram("autoheal", ["pause", "--for", "1h", "--reason", "before", "--config", daemons.config]).status == 0)
            #expect(try runProgram("autoheal", ["resume", "--config", daemons.config]).status == 0)

            // Node 1, which the daemons connected to first, is cut off: pause_minority stops it
            // and the daemons move to the majority.
            let cookie = try RabbitCluster.partition(1)
            var healed = false
            defer { if !healed { try? RabbitCluster.heal(1, cookie: cookie) } }
            try await waitUntil("node 1 to pause in the minority", timeout: .seconds(60)) { !RabbitCluster.isRunning(1, cookie: cookie) }
            let requests = Self.requests(200, for: daemons.container)
            let published = Confirmed()
            try await Self.publish(requests, vhost: vhost, published: published).value
            try await waitUntil("the 200 requests sent during the partition handled", timeout: .seconds(90)) {
                Set(try daemons.handled().keys).isSuperset(of: requests.map(\.id))
            }
            // A pause given during the partition reaches the engine through the majority.
            let pause = try runProgram("autoheal", ["pause", "--for", "1h", "--reason", "during partition", "--config", daemons.config])
            #expect(pause.status == 0, "\(pause.output)")

            try RabbitCluster.heal(1, cookie: cookie)
            healed = true
            try await waitUntil("node 1 to rejoin", timeout: .seconds(60)) { RabbitCluster.isRunning(1) }
            let handled = try daemons.handled()
            #expect(requests.allSatisfy { handled[$0.id] == 1 })
            #expect(Self.read(daemons.queueLog).contains("broker connection lost; reconnecting"), "the engine never left node 1")

            // Every reader of the state stream, each from its start and each more than once,
            // still sees the whole history despite the delivery limit.
            for _ in 1...3 {
                let status = try runProgram("autoheal", ["status", "--config", daemons.config])
                #expect(status.output.contains("during partition"), "\(status.output)")
            }
            #expect(try runProgram("autoheal", ["resume", "--config", daemons.config]).status == 0)
            #expect(try runProgram("autoheal", ["status", "--config", daemons.config]).output.contains("not paused"))
            try await daemons.stop()
        }
    }
}
