import AMQP
import AutoHealCore
import Logging

/// Publishes heal requests (envelopes) to the exchange of their scope, and refused
/// messages to the dead-letter exchange, each confirmed by the broker.
public final class HealRequestPublisher: Sendable {
    private let publisher: AMQPPublisher

    public init(settings: AMQPSettings, topology: AMQPTopology = HealTopology.declaration(), maxBacklog: Int = 1000, logger: Logger) {
        publisher = AMQPPublisher(settings: settings, topology: topology, maxBacklog: maxBacklog, logger: logger)
    }

    public var isConnected: Bool { publisher.isConnected }
    /// Requests dropped from a full backlog while the broker was away.
    public var droppedCount: Int { publisher.droppedCount }

    /// Publishes one envelope; returns once the broker has it on disk-backed queue(s).
    /// Counted in `autoheal_messages_published_total` or `autoheal_publish_failures_total`.
    public func publish(_ envelope: Envelope, timeout: Duration = .seconds(30)) async throws(AMQPError) {
        do {
            try await publisher.publish(
                AMQPMessage(
                    exchange: Topology.exchange(for: envelope.scope), routingKey: Topology.routingKey(for: envelope.scope),
                    body: envelope.encoded(), contentType: "application/json", messageID: envelope.id),
                timeout: timeout)
            HealMetrics.published(envelope.payload, scope: envelope.scope)
        } catch {
            HealMetrics.publishFailed(envelope.payload, scope: envelope.scope)
            throw error
        }
    }

    /// Sends a refused message body to the dead-letter queue with the reason in a header.
    public func deadLetter(body: [UInt8], reason: String, messageID: String?, timeout: Duration = .seconds(30)) async throws(AMQPError) {
        try await publisher.publish(
            AMQPMessage(
                exchange: Topology.deadLetterExchange, routingKey: "", body: body, messageID: messageID,
                header: (Topology.deadLetterReasonHeader, reason)),
            timeout: timeout)
    }

    /// Appends a message to the state stream the engines share (a pause notice, a release,
    /// a budget change, a checkpoint); returns once the broker confirmed it.
    public func publishState(_ message: SharedStateMessage, timeout: Duration = .seconds(15)) async throws(AMQPError) {
        try await publisher.publish(
            AMQPMessage(exchange: "", routingKey: Topology.stateQueue, body: message.encoded(), contentType: "application/json"),
            timeout: timeout)
    }

    public func shutdown() async { await publisher.shutdown() }
}
