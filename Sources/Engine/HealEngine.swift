import AMQP
import AutoHealCore
import FoundationEssentials
import Handlers
import Journal
import Logging
import Messaging
import ServiceLifecycle

/// The engine's long-running service: consumes both scope queues with manual ack,
/// decodes each message, runs its handler from the ``HandlerTable`` and acks only after
/// the handler finished.
///
/// A message that is not a valid request for its queue goes to the dead-letter queue with
/// the reason (and is acked only once the broker confirmed that). A sweep superseded by a
/// newer run, or a request this engine already handled, is acked without running again
/// (see ``RequestLedger``). On graceful shutdown it
/// stops taking messages, lets running handlers finish and ack, then closes the connection;
/// messages it had not started are requeued by the broker.
public struct HealEngine: Service {
    private let settings: AMQPSettings
    private let topology: AMQPTopology
    private let handlers: HandlerTable
    let ledger = RequestLedger()
    private let journal: DecisionJournal?
    private let concurrency: Int
    private let health: ServiceHealth?
    private let sharedPublisher: HealRequestPublisher?
    private let targetRefusal: @Sendable (Envelope) -> String?
    private let logger: Logger

    /// - Parameters:
    ///   - health: told when the consume loop starts and ends, with a probe of its broker connection.
    ///   - publisher: where refused messages go to the dead-letter queue; the engine's own
    ///     (opened and shut down by it) when nil, the caller's to shut down otherwise.
    ///   - targetRefusal: why a request's target may not be acted on (not in the config), or
    ///     nil; such a request goes to the dead-letter queue with that reason.
    ///   - logger: the queue area's logger (`engine.queue`).
    public init(
        settings: AMQPSettings, topology: AMQPTopology, handlers: HandlerTable, concurrency: Int, journal: DecisionJournal? = nil,
        health: ServiceHealth? = nil, publisher: HealRequestPublisher? = nil,
        targetRefusal: @escaping @Sendable (Envelope) -> String? = { _ in nil }, logger: Logger
    ) {
        self.targetRefusal = targetRefusal
        self.health = health
        self.sharedPublisher = publisher
        self.journal = journal
        self.settings = settings
        self.topology = topology
        self.handlers = handlers
        self.concurrency = max(concurrency, 1)
        self.logger = logger
    }

    public func run() async throws {
        let consumer = AMQPConsumer(
            settings: settings, topology: topology, queues: Scope.allCases.map(Topology.queue(for:)),
            prefetch: UInt16(clamping: concurrency), maximumBodySize: Envelope.maximumBodySize, logger: logger)
        let deadLetters = sharedPublisher ?? HealRequestPublisher(settings: settings, topology: topology, logger: logger)
        health?.loopStarted("engine", brokerConnected: { consumer.isConnected })
        defer { health?.loopEnded("engine") }

        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                var running = 0
                for await delivery in consumer.deliveries {
                    if running >= concurrency {
                        await group.next()
                        running -= 1
                    }
                    group.addTask { await process(delivery, consumer: consumer, deadLetters: deadLetters) }
                    running += 1
                }
                await group.waitForAll()
            }
        } onGracefulShutdown: {
            logger.notice("shutting down: no new messages; running handlers finish and ack")
            consumer.stopDeliveries()
        }
        await consumer.stop()
        if sharedPublisher == nil { await deadLetters.shutdown() }
        logger.notice("engine stopped")
    }

    private func process(_ delivery: AMQPDelivery, consumer: AMQPConsumer, deadLetters: HealRequestPublisher) async {
        var log: Logger.Metadata = [
            "queue": "\(delivery.queue)", "delivery_tag": "\(delivery.deliveryTag)",
            "redelivered": "\(delivery.redelivered)",
        ]
        guard let scope = Topology.scope(ofQueue: delivery.queue) else {
            logger.error("message from an unknown queue; rejected", metadata: log)
            await consumer.reject(delivery, requeue: false)
            return
        }
        if delivery.isTruncated {
            // Over the limit: only the head was copied, and only a head goes to the dead letters.
            let reason =
                "\(EnvelopeError.tooLarge(bytes: delivery.bodyBytes).description); the dead-lettered copy keeps its first "
                + "\(Self.oversizedHead) bytes"
            await refuse(
                delivery, reason: reason, body: Array(delivery.body.prefix(Self.oversizedHead)), consumer: consumer,
                deadLetters: deadLetters, log: log)
            return
        }
        let request: Envelope
        do {
            request = try Envelope.decode(delivery.body, queueScope: scope)
        } catch {
            await refuse(delivery, reason: error.description, consumer: consumer, deadLetters: deadLetters, log: log)
            return
        }
        if let why = targetRefusal(request) {
            log["request"] = "\(request.id)"
            await refuse(delivery, reason: why, consumer: consumer, deadLetters: deadLetters, log: log)
            return
        }
        log["payload"] = "\(request.payload.rawValue)"
        log["scope"] = "\(request.scope.rawValue)"
        log["request"] = "\(request.id)"
        if let target = request.target { log["target"] = "\(target)" }
        HealMetrics.consumed(request.payload, scope: request.scope)
        // A redelivered message may have been handled to the end before: its ack was lost (a
        // broker node went away, or an engine was killed between the journal and the ack).
        // Acked without acting again. (A copy the publisher sent again after a lost confirm is
        // not marked redelivered: the ledger below catches it.)
        if delivery.redelivered, let journal, (try? await journal.wasHandled(id: request.id)) == true {
            await consumer.ack(delivery)
            logger.notice("request already handled (journal); acked without running again", metadata: log)
            return
        }
        switch await ledger.admit(request, receivedAt: delivery.receivedAt) {
        case .run: break
        case .superseded:
            await consumer.ack(delivery)
            logger.info("sweep superseded by a newer run of the same payload and scope; acked without running", metadata: log)
            return
        case .duplicate:
            await consumer.ack(delivery)
            logger.notice("request already handled by this engine; acked without running again", metadata: log)
            return
        case .cancelled:
            logger.notice(
                "stopped while another copy of this request was being handled: not acked, the broker hands it out again",
                metadata: log)
            return
        }
        logger.info("handling request", metadata: log)
        let clock = ContinuousClock()
        let started = clock.now
        let outcome = await handlers.handler(for: request.payload).handle(request)
        guard !Task.isCancelled else {
            // Waits end early when the engine is cancelled: the handler may not have finished.
            ledger.giveUp(request)
            logger.notice("stopped before the handler finished: not acked, the broker hands the message out again", metadata: log)
            return
        }
        ledger.markHandled(request)
        if let journal {
            let elapsed = clock.now - started
            do {
                try await journal.recordHandled(
                    id: request.id, payload: request.payload.rawValue, scope: request.scope.rawValue,
                    target: request.target?.description, redelivered: delivery.redelivered, outcome: outcome.description,
                    duration: elapsed.timeInterval)
            } catch {
                logger.warning("cannot record the handled request in the journal", metadata: log.merging(["error": "\(error)"]) { $1 })
            }
        }
        await consumer.ack(delivery)
        HealMetrics.handled(request.payload, duration: clock.now - started)
        log["duration"] = "\((clock.now - started).logDescription)"
        log["outcome"] = "\(outcome)"
        logger.info("request handled and acked", metadata: log)
    }

    /// Moves a message the engine will not act on to the dead-letter queue with the reason,
    /// and acks it once the broker confirmed the copy (requeues it if it could not).
    /// Bytes of an oversized message kept in its dead-lettered copy: enough to see what it was.
    static let oversizedHead = 4096

    private func refuse(
        _ delivery: AMQPDelivery, reason: String, body: [UInt8]? = nil, consumer: AMQPConsumer, deadLetters: HealRequestPublisher,
        log: Logger.Metadata
    ) async {
        var log = log
        log["reason"] = "\(reason)"
        log["bytes"] = "\(delivery.bodyBytes)"
        do {
            try await deadLetters.deadLetter(body: body ?? delivery.body, reason: reason, messageID: delivery.messageID)
            await consumer.ack(delivery)
            HealMetrics.deadLettered(queue: delivery.queue)
            logger.warning("refused message moved to the dead-letter queue \(Topology.deadLetterQueue)", metadata: log)
        } catch let publishError {
            log["error"] = "\(publishError)"
            logger.error("refused message could not be dead-lettered; requeued", metadata: log)
            await consumer.reject(delivery, requeue: true)
        }
    }
}
