import AMQP
import AutoHealCore
import AutoHealTestSupport
@testable import Engine
import Foundation
import Handlers
import Logging
import Messaging
import ServiceLifecycle
import Testing

/// Records the requests it is given.
actor RecordingHandler: PayloadHandler {
    private(set) var requests: [Envelope] = []

    nonisolated func handle(_ request: Envelope) async -> HandlerOutcome {
        await record(request)
        return HandlerOutcome(checked: 1)
    }

    private func record(_ request: Envelope) { requests.append(request) }
}

/// Waits for a flag its test sets, the way a handler waits for a rolling slot; counts starts.
final class ParkedHandler: PayloadHandler {
    let started = Locked(0)
    let release = AsyncFlag()

    func handle(_ request: Envelope) async -> HandlerOutcome {
        started.withLock { $0 += 1 }
        return await release.wait() ? HandlerOutcome(checked: 1, acted: 1) : HandlerOutcome(checked: 1, skipped: 1)
    }
}

/// The engine's consume → decode → dispatch → ack path against the real RabbitMQ.
@Suite("Engine dispatch", .ownThreads, .timeLimit(.minutes(2)))
struct EngineTests {
    /// Runs a HealEngine with recording handlers for the duration of `body`.
    static func withEngine(
        vhost: String, _ body: (_ handlers: [Payload: RecordingHandler]) async throws -> Void
    ) async throws {
        let recorders = Dictionary(uniqueKeysWithValues: Payload.allCases.map { ($0, RecordingHandler()) })
        let table = HandlerTable(
            containerAutoHeal: recorders[.containerAutoHeal]!, allocationHeal: recorders[.allocationHeal]!,
            libvirtSuspendWakeup: recorders[.libvirtSuspendWakeup]!, computeHostFailure: recorders[.computeHostFailure]!)
        let engine = HealEngine(
            settings: BrokerTests.settings(vhost), topology: HealTopology.declaration(), handlers: table, concurrency: 4,
            logger: logger)
        try await running(engine) { try await body(recorders) }
    }

    static let logger = Logger(label: "test.engine")

    /// Runs `engine` in a service group for the duration of `body`, then stops it gracefully.
    static func running(_ engine: HealEngine, _ body: () async throws -> Void) async throws {
        let group = ServiceGroup(configuration: .init(services: [.init(service: engine)], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                try await body()
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test func plainStringAndEnvelopesReachTheirHandlerAndAreAcked() async throws {
        try await RabbitAdmin.withVhost("dispatch") { vhost in
            try await Self.withEngine(vhost: vhost) { handlers in
                // Consuming, so the whole topology is declared (a queue alone may not be bound yet).
                try await waitUntil("the engine to consume") {
                    (try? await RabbitAdmin.queue(Topology.queue(for: .compute), vhost: vhost))?.consumers ?? 0 > 0
                }
                // The old monitor's plain string, published as the old system did.
                try await RabbitAdmin.publishRaw(
                    "container_auto_heal", exchange: Topology.exchange(for: .compute),
                    routingKey: Topology.routingKey(for: .compute), vhost: vhost)
                let publisher = HealRequestPublisher(settings: BrokerTests.settings(vhost), logger: Logger(label: "test"))
                let allocation = Envelope(payload: .allocationHeal, scope: .control)
                try await publisher.publish(allocation)
                await publisher.shutdown()

                try await waitUntil("both requests to be handled") {
                    let containers = await handlers[.containerAutoHeal]!.requests.count
                    let allocations = await handlers[.allocationHeal]!.requests.count
                    return containers == 1 && allocations == 1
                }
                let plain = await handlers[.containerAutoHeal]!.requests[0]
                #expect(plain.scope == .compute)
                let handledAllocation = await handlers[.allocationHeal]!.requests[0]
                #expect(handledAllocation.id == allocation.id)
                let libvirt = await handlers[.libvirtSuspendWakeup]!.requests
                #expect(libvirt.isEmpty)
            }
            // After a graceful stop nothing is left in the queues: both were acked.
            for scope in Scope.allCases {
                #expect(try AMQPQueueInspector.counts(of: Topology.queue(for: scope), settings: BrokerTests.settings(vhost)).ready == 0)
            }
        }
    }

    @Test func invalidMessagesGoToTheDeadLetterQueueWithTheirReason() async throws {
        try await RabbitAdmin.withVhost("deadletter") { vhost in
            try await Self.withEngine(vhost: vhost) { handlers in
                // Consuming, so the whole topology is declared (a queue alone may not be bound yet).
                try await waitUntil("the engine to consume") {
                    (try? await RabbitAdmin.queue(Topology.queue(for: .control), vhost: vhost))?.consumers ?? 0 > 0
                }
                let control = (Topology.exchange(for: .control), Topology.routingKey(for: .control))
                // 2 MB: refused having copied only its head; the dead-lettered copy is that head.
                let oversized = "container_auto_heal" + String(repeating: " ", count: 2_000_000)
                let head = String(oversized.prefix(4096))
                // 513 levels, the last `[` at the end: JSONDecoder alone would trap (JSONInput).
                let nested = "{\"version\": 1, \"payload\": " + String(repeating: "[", count: 512)
                let bodies = [
                    "restart_everything", "libvirt_suspend_wakeup", "{\"version\": 7}", "{\"version\": 1, \"id\": 5}", nested, oversized,
                ]
                for body in bodies {
                    try await RabbitAdmin.publishRaw(body, exchange: control.0, routingKey: control.1, vhost: vhost)
                }
                var dead: [RabbitAdmin.Message] = []
                try await waitUntil("six dead letters") {
                    dead += try await RabbitAdmin.take(10, from: Topology.deadLetterQueue, vhost: vhost)
                    return dead.count >= 6
                }
                let reasons = Dictionary(uniqueKeysWithValues: dead.map { ($0.body, $0.headers[Topology.deadLetterReasonHeader] ?? "") })
                #expect(reasons["restart_everything"] == "unknown payload \"restart_everything\"")
                #expect(reasons["libvirt_suspend_wakeup"] == "libvirt_suspend_wakeup is not a control payload")
                #expect(reasons["{\"version\": 7}"] == "unsupported envelope version 7 (this engine reads version 1)")
                #expect(reasons["{\"version\": 1, \"id\": 5}"]?.hasPrefix("malformed envelope:") == true)
                #expect(reasons[nested] == "malformed envelope: not valid JSON")
                #expect(
                    reasons[head]
                        == "body of 2000019 bytes is over the 65536-byte limit; the dead-lettered copy keeps its first 4096 bytes")
                #expect(reasons[oversized] == nil)

                // The engine keeps working.
                try await RabbitAdmin.publishRaw("container_auto_heal", exchange: control.0, routingKey: control.1, vhost: vhost)
                try await waitUntil("the valid request to be handled") {
                    await handlers[.containerAutoHeal]!.requests.count == 1
                }
            }
            #expect(try AMQPQueueInspector.counts(of: Topology.queue(for: .control), settings: BrokerTests.settings(vhost)).ready == 0)
        }
    }

    /// Two copies of one request (the publisher sent it again after a broker restart lost its
    /// confirm, and the broker had kept the first) arrive together: the second waits for the
    /// first and is acked without running. `DeliveryFaultTests` saw it run twice at `408d691`.
    @Test func aSecondCopyArrivingWhileTheFirstRunsIsNotRunAgain() async throws {
        try await RabbitAdmin.withVhost("copies") { vhost in
            let parked = ParkedHandler()
            let engine = HealEngine(
                settings: BrokerTests.settings(vhost), topology: HealTopology.declaration(),
                handlers: HandlerTable(
                    containerAutoHeal: parked, allocationHeal: RecordingHandler(), libvirtSuspendWakeup: RecordingHandler(),
                    computeHostFailure: RecordingHandler()),
                concurrency: 4, logger: Self.logger)
            let queue = Topology.queue(for: .control)
            try await Self.running(engine) {
                try await waitUntil("the engine to consume") {
                    (try? await RabbitAdmin.queue(queue, vhost: vhost))?.consumers ?? 0 > 0
                }
                // Targeted, as a request from a Docker event: never collapsed like a sweep.
                let request = Envelope(
                    payload: .containerAutoHeal, scope: .control, target: TargetKey(host: "127.0.0.1:2375", container: "nova_api"))
                let publisher = HealRequestPublisher(settings: BrokerTests.settings(vhost), logger: Self.logger)
                try await publisher.publish(request)
                try await waitUntil("the first copy to be handled") { parked.started.withLock { $0 } == 1 }
                try await publisher.publish(request)
                await publisher.shutdown()
                // Without the wait in the ledger the second copy starts the handler too.
                try await waitUntil("the second copy to wait for the first (or to run)") {
                    engine.ledger.waiting == 1 || parked.started.withLock { $0 } == 2
                }
                parked.release.set()
                try await waitUntil("both copies acked") {
                    try AMQPQueueInspector.counts(of: queue, settings: BrokerTests.settings(vhost)).ready == 0
                        && engine.ledger.waiting == 0
                }
            }
            // Stopped: a copy held unacked would be back in the queue now.
            #expect(parked.started.withLock { $0 } == 1)
            #expect(try AMQPQueueInspector.counts(of: queue, settings: BrokerTests.settings(vhost)).ready == 0)
        }
    }

    @Test func aHandlerCutShortByCancellationIsNotAcked() async throws {
        try await RabbitAdmin.withVhost("cancelled") { vhost in
            let parked = ParkedHandler()
            let engine = HealEngine(
                settings: BrokerTests.settings(vhost), topology: HealTopology.declaration(),
                handlers: HandlerTable(
                    containerAutoHeal: RecordingHandler(), allocationHeal: parked, libvirtSuspendWakeup: RecordingHandler(),
                    computeHostFailure: RecordingHandler()),
                concurrency: 4, logger: Logger(label: "test.engine"))
            let running = Task { try await engine.run() }
            try await waitUntil("the engine to consume") {
                (try? await RabbitAdmin.queue(Topology.queue(for: .control), vhost: vhost))?.consumers ?? 0 > 0
            }
            let publisher = HealRequestPublisher(settings: BrokerTests.settings(vhost), logger: Logger(label: "test"))
            try await publisher.publish(Envelope(payload: .allocationHeal, scope: .control))
            await publisher.shutdown()
            try await waitUntil("the handler to wait its turn") { parked.started.withLock { $0 } == 1 }

            // Torn down (not a graceful stop): the wait ends, the handler returns, no ack.
            running.cancel()
            _ = try? await running.value
            let queue = Topology.queue(for: .control)
            try await waitUntil("the message back in its queue") {
                (try? await RabbitAdmin.queue(queue, vhost: vhost)).map { $0?.ready == 1 && $0?.consumers == 0 } ?? false
            }
            #expect(try AMQPQueueInspector.counts(of: queue, settings: BrokerTests.settings(vhost)).ready == 1)
        }
    }
}
