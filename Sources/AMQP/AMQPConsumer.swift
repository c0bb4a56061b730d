import AutoHealCore
import FoundationEssentials
import Logging

/// A message received from a queue, to be acked or rejected once handled.
public struct AMQPDelivery: Sendable {
    /// The queue it came from.
    public var queue: String
    public var deliveryTag: UInt64
    /// True when the broker delivered it before (to a consumer that did not ack it).
    public var redelivered: Bool
    public var exchange: String
    public var routingKey: String
    public var messageID: String?
    /// The body, or only its first ``AMQPConsumer/maximumBodySize`` bytes when the message
    /// was longer: such a message is refused whole, so the rest is never copied.
    public var body: [UInt8]
    /// The whole body's length as the broker sent it.
    public var bodyBytes: Int
    /// True when ``body`` holds only the head of a longer message.
    public var isTruncated: Bool { bodyBytes > body.count }
    /// When this process received it.
    public var receivedAt: ContinuousClock.Instant
    /// Which connection it came on: an ack for an older connection is void (the broker
    /// redelivers the message instead).
    let generation: Int
}

/// Consumes queues with manual acknowledgement on its own thread and connection.
///
/// Deliveries come out of ``deliveries``; nothing is acked until the caller calls ``ack(_:)``,
/// so a message whose handler never finished is redelivered after a crash or a lost
/// connection. The consumer reconnects by itself with capped, jittered exponential back-off,
/// trying the configured brokers in turn, and re-declares the topology each time.
public final class AMQPConsumer: Sendable {
    private enum Settlement: Sendable {
        case ack
        case reject(requeue: Bool)
    }

    private struct Shared {
        var settlements: [(generation: Int, tag: UInt64, how: Settlement, sent: CheckedContinuation<Void, Never>?)] = []
        var stopping = false
        var deliveriesStopped = false
        var connected = false
        var lastError: String? = nil
        /// The thread has stopped taking settlements (set with the last drain of them).
        var done = false
    }

    public let deliveries: AsyncStream<AMQPDelivery>
    private let continuation: AsyncStream<AMQPDelivery>.Continuation
    private let settings: AMQPSettings
    private let topology: AMQPTopology
    private let queues: [String]
    private let prefetch: UInt16
    /// Bytes of a body copied out of the connection's buffer (see ``AMQPDelivery/body``).
    public let maximumBodySize: Int
    private let logger: Logger
    /// Shared with the consumer thread; ``stop()`` waits on it for `done`.
    private let shared = AsyncCondition(Shared())

    /// Starts consuming `queues` (declared by `topology`) with at most `prefetch` unacked messages.
    /// - Parameter maximumBodySize: bytes of a body copied out of the broker connection's
    ///   buffer; a longer message arrives with only its head (``AMQPDelivery/isTruncated``).
    public init(
        settings: AMQPSettings, topology: AMQPTopology, queues: [String], prefetch: UInt16, maximumBodySize: Int = .max,
        logger: Logger
    ) {
        self.maximumBodySize = maximumBodySize
        (deliveries, continuation) = AsyncStream.makeStream(of: AMQPDelivery.self)
        self.settings = settings
        self.topology = topology
        self.queues = queues
        self.prefetch = max(prefetch, 1)
        self.logger = logger
        OSThread.start(name: "amqp-consumer") { [self] in run() }
    }

    /// Whether the consumer holds a live connection right now.
    public var isConnected: Bool { shared.value.connected }
    /// The last connection error, if the consumer is not connected.
    public var lastError: String? { shared.value.lastError }

    /// Acknowledges a handled message; returns once the consumer thread wrote the ack to the
    /// broker connection (or found that connection gone: the broker then redelivers it). So a
    /// caller that logs "acked" afterwards tells the truth even if the process dies next.
    public func ack(_ delivery: AMQPDelivery) async { await settle(delivery, .ack) }

    /// Rejects a message; with `requeue` false the broker drops it (or dead-letters it, if the
    /// queue says so). Returns like ``ack(_:)``.
    public func reject(_ delivery: AMQPDelivery, requeue: Bool) async { await settle(delivery, .reject(requeue: requeue)) }

    private func settle(_ delivery: AMQPDelivery, _ how: Settlement) async {
        await withCheckedContinuation { (sent: CheckedContinuation<Void, Never>) in
            let stopped = shared.update { s -> Bool in
                if s.done { return true }
                s.settlements.append((delivery.generation, delivery.deliveryTag, how, sent))
                return false
            }
            if stopped { sent.resume() }
        }
    }

    /// Ends ``deliveries`` but keeps the connection, so handlers still running can ack.
    /// Messages that arrive from now on are not handed out; the broker requeues them when
    /// ``stop()`` closes the connection.
    public func stopDeliveries() {
        shared.update { $0.deliveriesStopped = true }
    }

    /// Stops consuming: sends the acks given so far, closes the connection (the broker
    /// requeues whatever was delivered but not acked) and ends ``deliveries``.
    public func stop() async {
        shared.update { $0.stopping = true }
        // Not cancellable: the thread stops soon after `stopping`, and the caller's next step
        // (the connection's end) needs it stopped.
        _ = await Task { await shared.wait { $0.done ? () : nil } }.value
    }

    // MARK: - The consumer thread

    private func run() {
        var connection: AMQPConnection? = nil
        var generation = 0
        var outstanding = 0
        var backoff = ReconnectBackoff()
        var serverIndex = 0
        var tagToQueue: [String: String] = [:]
        let identity = "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"

        func drop(_ error: AMQPError) -> Duration {
            connection?.close()
            connection = nil
            outstanding = 0
            let delay = backoff.next()
            shared.update {
                $0.connected = false
                $0.lastError = error.description
            }
            return delay
        }

        /// Sends the acks and rejects given so far; every caller waiting for one goes on,
        /// whether it was sent or its connection is gone.
        func settle() throws(AMQPError) {
            let pending = shared.update { s in
                defer { s.settlements.removeAll() }
                return s.settlements
            }
            var failure: AMQPError? = nil
            for item in pending {
                defer { item.sent?.resume() }
                guard failure == nil else { continue }
                guard item.generation == generation, let c = connection else {
                    logger.debug(
                        "settlement for an older connection dropped; the broker redelivers that message",
                        metadata: ["delivery_tag": "\(item.tag)"])
                    continue
                }
                do throws(AMQPError) {
                    switch item.how {
                    case .ack: try c.ack(item.tag)
                    case .reject(let requeue): try c.reject(item.tag, requeue: requeue)
                    }
                    outstanding -= 1
                } catch {
                    failure = error
                }
            }
            if let failure { throw failure }
        }

        var streamFinished = false
        while true {
            let (stopping, deliveriesStopped) = shared.update { ($0.stopping, $0.deliveriesStopped) }
            if deliveriesStopped && !streamFinished {
                continuation.finish()
                streamFinished = true
            }
            if stopping {
                try? settle()
                connection?.close()
                connection = nil
                continuation.finish()
                let late = shared.update { s in
                    s.connected = false
                    s.done = true
                    defer { s.settlements = [] }
                    return s.settlements
                }
                for item in late { item.sent?.resume() }
                return
            }

            if connection == nil && deliveriesStopped {
                // Nothing more to consume, and acks cannot outlive their connection: no
                // reconnect; release the handlers waiting on theirs and wait for stop().
                try? settle()
                OSThread.sleep(seconds: 0.05)
                continue
            }
            if connection == nil {
                let server = settings.servers[serverIndex % settings.servers.count]
                serverIndex += 1
                do {
                    let c = try AMQPConnection(settings: settings, server: server, topology: topology)
                    tagToQueue = [:]
                    for queue in queues {
                        let tag = "\(queue)|\(identity)"
                        try c.startConsuming(queue: queue, consumerTag: tag, prefetch: prefetch)
                        tagToQueue[tag] = queue
                    }
                    connection = c
                    generation += 1
                    outstanding = 0
                    backoff.reset()
                    shared.update {
                        $0.connected = true
                        $0.lastError = nil
                    }
                    logger.info(
                        "consuming",
                        metadata: [
                            "broker": "\(server)", "vhost": "\(settings.vhost)", "queues": "\(queues.joined(separator: ","))",
                            "prefetch": "\(prefetch)",
                        ])
                } catch {
                    connection?.close()
                    connection = nil
                    let delay = drop(error)
                    logger.warning(
                        "cannot consume from broker", metadata: ["broker": "\(server)", "error": "\(error)", "retry_in": "\(delay)"])
                    try? settle()  // acks for the lost connection: void, their callers go on
                    sleepUnlessStopping(delay)
                    continue
                }
            }

            do {
                try settle()
                // Poll every millisecond while handlers may be about to ack (each waits for its ack
                // to be written); otherwise wait longer.
                let wait: Duration = outstanding == 0 ? .milliseconds(250) : .milliseconds(1)
                if let raw = try connection!.nextDelivery(
                    timeout: streamFinished ? .milliseconds(1) : wait, maximumBody: maximumBodySize)
                {
                    // After stopDeliveries the message stays unacked; closing the connection requeues it.
                    guard !streamFinished else { continue }
                    outstanding += 1
                    let queue = tagToQueue[raw.consumerTag] ?? raw.routingKey
                    continuation.yield(
                        AMQPDelivery(
                            queue: queue, deliveryTag: raw.deliveryTag, redelivered: raw.redelivered, exchange: raw.exchange,
                            routingKey: raw.routingKey, messageID: raw.messageID, body: raw.body, bodyBytes: raw.bodyBytes,
                            receivedAt: .now,
                            generation: generation))
                }
            } catch {
                let delay = drop(error)
                logger.warning("broker connection lost; reconnecting", metadata: ["error": "\(error)", "retry_in": "\(delay)"])
                try? settle()
                sleepUnlessStopping(delay)
            }
        }
    }

    /// Waits out a reconnect back-off, but not past a stop or the end of deliveries (a
    /// shutting-down engine must not wait up to 30 s for a reconnect it no longer needs).
    private func sleepUnlessStopping(_ delay: Duration) {
        let until = ContinuousClock.now + delay
        while ContinuousClock.now < until, !shared.update({ $0.stopping || $0.deliveriesStopped }) {
            OSThread.sleep(seconds: min((until - .now).timeInterval, 0.1))
        }
    }
}
