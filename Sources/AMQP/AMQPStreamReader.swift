import AutoHealCore
import FoundationEssentials
import Logging

/// Follows a RabbitMQ stream queue from its first message, on its own thread and
/// connection: every message in the broker's order, each handed out once per process (after
/// a reconnect it resumes after the last offset it handed out), then new ones as they are
/// appended.
///
/// To know when it has read everything the stream held when it connected, it appends a
/// marker (the body `marker(id)` makes) and reports ``Event/caughtUp(offset:)`` when that
/// marker comes back; the marker itself is not handed out. Readers ignore each other's
/// markers, so the body must be something the caller's decoder skips.
public final class AMQPStreamReader: Sendable {
    public enum Event: Sendable, Equatable {
        /// A message of the stream at `offset`.
        case message(offset: Int64, body: [UInt8])
        /// Everything appended before this reader's first connection has been handed out.
        case caughtUp(offset: Int64)
    }

    public let events: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation
    private let stopping = Locked(false)
    private let connected = Locked(false)

    /// Starts following `queue` (declared by `topology`, which must declare it as a stream).
    public init(
        settings: AMQPSettings, topology: AMQPTopology, queue: String, marker: @escaping @Sendable (String) -> [UInt8],
        logger: Logger
    ) {
        (events, continuation) = AsyncStream.makeStream(of: Event.self)
        OSThread.start(name: "amqp-stream") { [self] in
            follow(settings: settings, topology: topology, queue: queue, marker: marker, logger: logger)
        }
    }

    /// Whether the reader holds a live connection.
    public var isConnected: Bool { connected.withLock { $0 } }

    /// Stops following (within about a quarter of a second) and ends ``events``.
    public func stop() { stopping.withLock { $0 = true } }

    private var isStopping: Bool { stopping.withLock { $0 } }

    private func follow(
        settings: AMQPSettings, topology: AMQPTopology, queue: String, marker: @Sendable (String) -> [UInt8], logger: Logger
    ) {
        var cursor = StreamCursor()
        var connection: AMQPConnection? = nil
        var backoff = ReconnectBackoff()
        var serverIndex = 0
        while !isStopping {
            do {
                if connection == nil {
                    let server = settings.servers[serverIndex % settings.servers.count]
                    serverIndex += 1
                    connection = try cursor.open(
                        settings: settings, server: server, topology: topology, queue: queue, marker: marker)
                    connected.withLock { $0 = true }
                    backoff.reset()
                }
                guard let delivery = try connection!.nextDelivery(timeout: .milliseconds(250)) else { continue }
                try connection!.ack(delivery.deliveryTag)
                if let event = cursor.take(delivery) { continuation.yield(event) }
            } catch {
                connection?.close()
                connection = nil
                connected.withLock { $0 = false }
                let delay = backoff.next()
                logger.warning(
                    "cannot read the stream \(queue); retrying",
                    metadata: ["error": "\(error)", "retry_in": "\(delay)", "next_offset": "\(cursor.next.map { "\($0)" } ?? "first")"])
                let until = ContinuousClock.now + delay
                while ContinuousClock.now < until, !isStopping {
                    OSThread.sleep(seconds: min((until - .now).timeInterval, 0.1))
                }
            }
        }
        connection?.close()
        connected.withLock { $0 = false }
        continuation.finish()
    }

    /// Reads a stream from its first message up to the marker this call appends, on a
    /// connection of its own, and returns every message before the marker. Blocks the calling
    /// thread (meant for the CLI and tests): at most `timeout`. Tries the brokers in turn: a
    /// cluster node that is down, paused in a minority or without a replica of the stream yet
    /// (after it rejoined) is passed over.
    public static func readToEnd(
        settings: AMQPSettings, topology: AMQPTopology, queue: String, marker: @Sendable (String) -> [UInt8],
        timeout: Duration = .seconds(15)
    ) throws(AMQPError) -> [(offset: Int64, body: [UInt8])] {
        let deadline = ContinuousClock.now + timeout
        var lastError = AMQPError(.timedOut, "\(queue): did not read to the end of the stream within \(timeout)")
        for server in settings.servers where ContinuousClock.now < deadline {
            do {
                return try readToEnd(
                    settings: settings, server: server, topology: topology, queue: queue, marker: marker, deadline: deadline)
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    private static func readToEnd(
        settings: AMQPSettings, server: AMQPServer, topology: AMQPTopology, queue: String, marker: @Sendable (String) -> [UInt8],
        deadline: ContinuousClock.Instant
    ) throws(AMQPError) -> [(offset: Int64, body: [UInt8])] {
        var cursor = StreamCursor()
        let connection = try cursor.open(settings: settings, server: server, topology: topology, queue: queue, marker: marker)
        defer { connection.close() }
        var messages: [(offset: Int64, body: [UInt8])] = []
        while ContinuousClock.now < deadline {
            guard let delivery = try connection.nextDelivery(timeout: .milliseconds(250)) else { continue }
            try connection.ack(delivery.deliveryTag)
            switch cursor.take(delivery) {
            case .message(let offset, let body)?: messages.append((offset, body))
            case .caughtUp?: return messages
            case nil: continue
            }
        }
        throw AMQPError(.timedOut, "\(queue): did not read to the end of the stream on \(server) in time")
    }
}

/// Where a stream reader is: the next offset to ask for, and the marker it waits for.
/// Used by one thread only.
private struct StreamCursor {
    /// The offset after the last message handed out; nil before the first.
    var next: Int64?
    var caughtUp = false
    var markerBody: [UInt8]?

    /// Connects, consumes from ``next`` and, until caught up, appends a fresh marker.
    mutating func open(
        settings: AMQPSettings, server: AMQPServer, topology: AMQPTopology, queue: String, marker: (String) -> [UInt8]
    ) throws(AMQPError) -> AMQPConnection {
        let connection = try AMQPConnection(settings: settings, server: server, topology: topology)
        do {
            let tag = "\(queue)|\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
            try connection.startConsumingStream(queue: queue, consumerTag: tag, offset: next, prefetch: 256)
            if !caughtUp {
                let body = marker(UUID().uuidString.lowercased())
                markerBody = body
                try connection.publishUnconfirmed(AMQPMessage(exchange: "", routingKey: queue, body: body))
            }
        } catch {
            connection.close()
            throw error
        }
        return connection
    }

    /// What a delivery means: a message to hand out, the caught-up point, or nothing (a
    /// repeat after a reconnect).
    mutating func take(_ delivery: AMQPConnection.RawDelivery) -> AMQPStreamReader.Event? {
        let offset = delivery.streamOffset ?? next ?? 0
        if let next, offset < next { return nil }
        next = offset + 1
        if !caughtUp, let markerBody, delivery.body == markerBody {
            caughtUp = true
            return .caughtUp(offset: offset)
        }
        return .message(offset: offset, body: delivery.body)
    }
}
