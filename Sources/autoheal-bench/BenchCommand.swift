import AMQP
import ArgumentParser
import AutoHealCore
import DockerAPI
import Engine
import Foundation
import HTTP
import Handlers
import Journal
import Logging
import Messaging
import ServiceLifecycle
import Synchronization

/// autoheal-bench: the figures of BENCHMARKS.md, each one command. Build it in release mode:
/// `swift build -c release` then `.build/release/autoheal-bench <figure>`. Needs the local
/// RabbitMQ and Docker engine (`bash scripts/start-services.sh`).
@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autoheal-bench",
        abstract: "Measure Cloud Auto Heal: sweep times, healing latency, dispatch and publish throughput, memory and CPU.",
        subcommands: [FleetSweep.self, DockerSweep.self, Dispatch.self, Latency.self, Resources.self])
}

// MARK: - Sweep of a simulated fleet

struct FleetSweep: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet-sweep", abstract: "Sweep a simulated fleet (hosts x containers) on loopback ports, in process.")

    @Option var hosts = 1000
    @Option var containers = 10
    @Option(help: "Delay of each simulated answer, in ms.") var latencyMs = 2
    @Option(help: "Share of hosts where nothing listens.") var unreachable = 0.0
    @Option(help: "Share of hosts that accept and never answer.") var silent = 0.0
    @Option(help: "[hosts] docker_timeout for the run (seconds).") var timeout = 2
    @Option(help: "[hosts] docker_max_requests.") var maxRequests = 8
    @Option var runs = 3
    @Option(help: "First port of the fleet (keep the fleet below the ephemeral range, 32768+).") var basePort = 10000

    func run() async throws {
        Bench.raiseFileLimit()
        let simulator = try FleetSimulator(
            hosts: hosts, basePort: basePort, latency: .milliseconds(latencyMs), unreachableShare: unreachable, silentShare: silent)
        simulator.start()
        defer { simulator.stop() }
        let names = (0..<containers).map { String(format: "svc_%02d", $0) }
        let config = try AutoHealConfig.parse(
            """
            [hosts]
            control_hosts = \(simulator.hostEntries.joined(separator: ", "))
            compute_hosts =
            docker_timeout = \(timeout)
            docker_connect_timeout = \(timeout)
            docker_max_requests = \(maxRequests)
            [containers]
            control = \(names.joined(separator: ", "))
            """, path: "fleet.conf")
        let http = HTTPClient(name: "fleet-http")
        defer { http.shutdown() }
        let reviver = Bench.reviver(config: config, http: http)
        print(
            "fleet: \(hosts) hosts x \(containers) containers = \(hosts * containers) targets; \(latencyMs) ms per answer; "
                + "\(simulator.answeringHosts) answering, unreachable \(Int(unreachable * 100))%, silent \(Int(silent * 100))%; "
                + "docker_timeout \(timeout)s, docker_max_requests \(maxRequests)")
        var times: [Double] = []
        for run in 1...runs {
            let before = simulator.answered.load(ordering: .relaxed)
            let clock = ContinuousClock()
            let started = clock.now
            let outcome = await reviver.handle(Envelope(payload: .containerAutoHeal, scope: .control))
            let elapsed = (clock.now - started).timeInterval
            let answersDone = simulator.lastAnswerAt.map { ($0 - started).timeInterval } ?? .nan
            times.append(elapsed)
            print(
                String(
                    format: "run %d: sweep %.3f s (answering hosts all answered at %.3f s); checked %d, failed %d; %d inspects answered",
                    run, elapsed, answersDone, outcome.checked, outcome.failed, simulator.answered.load(ordering: .relaxed) - before))
        }
        print(String(format: "fleet-sweep: median %.3f s, best %.3f s", Bench.percentile(times, 50), times.min() ?? .nan))
    }
}

// MARK: - Sweep of a real Docker engine

struct DockerSweep: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "docker-sweep", abstract: "Sweep N real containers on the local Docker engine (TCP 2375), in process.")

    @Option(parsing: .upToNextOption) var counts: [Int] = [10, 100, 300]
    @Option var runs = 3
    @Option(help: "[hosts] docker_max_requests.") var maxRequests = 8

    func run() async throws {
        let most = counts.max() ?? 0
        let names = (0..<most).map { String(format: "bench-sweep-%03d", $0) }
        print("creating \(most) containers (busybox, no health check)...")
        _ = try? Bench.docker(["rm", "-f"] + names)
        for name in names {
            try Bench.docker([
                "run", "-d", "--name", name, "--network", "none", "--label", "autoheal-bench=1", "autoheal/busybox:latest",
                "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600; done",
            ])
        }
        defer { _ = try? Bench.docker(["rm", "-f"] + names) }
        let http = HTTPClient(name: "sweep-http")
        defer { http.shutdown() }
        for count in counts {
            let config = try AutoHealConfig.parse(
                """
                [hosts]
                control_hosts = 127.0.0.1:2375
                compute_hosts =
                docker_max_requests = \(maxRequests)
                [containers]
                control = \(names.prefix(count).joined(separator: ", "))
                """, path: "sweep.conf")
            let reviver = Bench.reviver(config: config, http: http)
            var times: [Double] = []
            for _ in 0..<runs {
                let clock = ContinuousClock()
                let started = clock.now
                let outcome = await reviver.handle(Envelope(payload: .containerAutoHeal, scope: .control))
                times.append((clock.now - started).timeInterval)
                guard outcome.checked == count, outcome.failed == 0 else { throw BenchError("sweep of \(count): \(outcome)") }
            }
            print(
                String(
                    format: "docker-sweep %d containers: median %.3f s, best %.3f s (runs: %@)", count, Bench.percentile(times, 50),
                    times.min() ?? .nan, times.map { String(format: "%.3f", $0) }.joined(separator: ", ")))
        }
    }
}

// MARK: - Dispatch and publish throughput

/// Counts requests and does nothing else.
struct CountingHandler: PayloadHandler {
    let count: Counter
    final class Counter: Sendable { let value = Atomic<Int>(0) }
    func handle(_ request: Envelope) async -> HandlerOutcome {
        count.value.add(1, ordering: .relaxed)
        return HandlerOutcome(checked: 1)
    }
}

struct Dispatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Monitor publish throughput with confirms, then engine dispatch throughput with a no-op handler (local RabbitMQ).")

    @Option var messages = 20000
    @Option(help: "Publishing tasks at once (each waits for its confirm; the publisher pipelines them).") var publishers = 1024
    @Option(help: "[engine] concurrency.") var concurrency = 32
    @Flag(help: "Write each run to a decision journal, as the engine does.") var journal = false
    @Option(help: "Classic queue version set by a policy on the bench's vhost (2: RabbitMQ 3.10's faster index).")
    var queueVersion: Int? = nil

    func run() async throws {
        let vhost = "autoheal-bench-dispatch"
        try await Bench.withVhost(vhost, queueVersion: queueVersion) { try await measure(vhost: vhost) }
    }

    private func measure(vhost: String) async throws {
        let settings = Bench.brokerSettings(vhost: vhost)
        let publisher = HealRequestPublisher(settings: settings, maxBacklog: messages, logger: Bench.silent)
        // Targeted requests (distinct targets): none is superseded, every one is dispatched.
        let expires = Date().addingTimeInterval(3600)
        let clock = ContinuousClock()
        var started = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<publishers {
                group.addTask {
                    for i in stride(from: worker, to: messages, by: publishers) {
                        try await publisher.publish(
                            Envelope(
                                payload: .containerAutoHeal, scope: i % 2 == 0 ? .control : .compute, expiresAt: expires,
                                target: TargetKey(host: "bench", container: "c\(i)")), timeout: .seconds(60))
                    }
                }
            }
            try await group.waitForAll()
        }
        let publishTime = (clock.now - started).timeInterval
        await publisher.shutdown()
        print(
            String(
                format: "publish: %d messages confirmed in %.2f s = %.0f messages/s (%d publishing tasks, one connection)",
                messages, publishTime, Double(messages) / publishTime, publishers))

        let counter = CountingHandler.Counter()
        let handler = CountingHandler(count: counter)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autoheal-bench-journal-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let engine = HealEngine(
            settings: settings, topology: HealTopology.declaration(),
            handlers: HandlerTable(
                containerAutoHeal: handler, allocationHeal: handler, libvirtSuspendWakeup: handler, computeHostFailure: handler),
            concurrency: concurrency, journal: journal ? try DecisionJournal(directory: directory) : nil, logger: Bench.silent)
        let group = ServiceGroup(services: [engine], logger: Bench.silent)
        started = clock.now
        let running = Task { try await group.run() }
        try await waitFor("\(messages) messages to be dispatched", timeout: .seconds(600)) {
            counter.value.load(ordering: .relaxed) >= messages
        }
        let dispatchTime = (clock.now - started).timeInterval
        await group.triggerGracefulShutdown()
        _ = try? await running.value
        print(
            String(
                format: "dispatch: %d messages handled and acked in %.2f s = %.0f messages/s (concurrency %d, journal %@)",
                messages, dispatchTime, Double(messages) / dispatchTime, concurrency, journal ? "on" : "off"))
    }
}
