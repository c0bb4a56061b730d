import AutoHealCore
import CAMQPShim
#if canImport(Glibc)
    import Glibc
#endif

/// One rabbitmq-c connection with channel 1 open. Not thread-safe: it is created, used and
/// closed by exactly one thread (the publisher's or the consumer's). The C handle never
/// leaves this type.
final class AMQPConnection {
    private var handle: OpaquePointer?
    let server: AMQPServer
    private var nextPublishTag: UInt64 = 1
    /// Publishes written ahead and sent together by ``flushPublishes()`` (plain TCP); nil on
    /// TLS, where each one is sent as it is published. See `cah_amqp_outbox` for why.
    private var outbox: cah_amqp_outbox?
    /// How long ``flushPublishes()`` waits for a socket that takes nothing.
    private let writeTimeout: Duration
    /// Buffered bytes past which ``publishMandatory(_:)`` sends at once: the broker starts on
    /// a long batch while the rest is written.
    static let outboxFlushBytes = 64 << 10

    static let channel: UInt16 = 1

    /// Connects, logs in, opens channel 1 and declares the topology.
    init(settings: AMQPSettings, server: AMQPServer, topology: AMQPTopology) throws(AMQPError) {
        self.server = server
        self.outbox = settings.tls == nil ? cah_amqp_outbox() : nil
        self.writeTimeout = max(settings.connectTimeout, .seconds(1))
        var status = cah_amqp_status()
        func open(_ tls: UnsafePointer<cah_amqp_tls>?) -> OpaquePointer? {
            cah_amqp_open(
                server.host, Int32(server.port), Int32(settings.connectTimeout.wholeMilliseconds), settings.vhost,
                settings.username, settings.password, Int32(settings.heartbeatSeconds), tls, &status)
        }
        if let tls = settings.tls {
            handle = withOptionalCString(tls.caFile) { ca in
                withOptionalCString(tls.certificateFile) { cert in
                    withOptionalCString(tls.keyFile) { key in
                        var files = cah_amqp_tls(ca_file: ca, cert_file: cert, key_file: key, verify_hostname: tls.verifyHostname ? 1 : 0)
                        return open(&files)
                    }
                }
            }
        } else {
            handle = open(nil)
        }
        guard handle != nil else {
            throw AMQPError(.connect, code: Int(status.code), "\(server): \(Self.text(status))")
        }
        do {
            try check(cah_amqp_channel_open(handle, Self.channel, &status), status)
            try declare(topology)
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    func close() {
        if let handle { cah_amqp_close(handle) }
        handle = nil
        if outbox != nil { cah_amqp_outbox_free(&outbox!) }
    }

    private static func text(_ status: cah_amqp_status) -> String {
        withUnsafeBytes(of: status.message) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    private func check(_ rc: Int32, _ status: cah_amqp_status) throws(AMQPError) {
        guard rc != 0 else { return }
        let kind: AMQPError.Kind =
            status.kind == Int32(CAH_AMQP_LIBRARY_ERROR.rawValue) ? .connectionLost : .closedByBroker
        throw AMQPError(kind, code: kind == .closedByBroker ? Int(status.code) : 0, "\(server): \(Self.text(status))")
    }

    private func live() throws(AMQPError) -> OpaquePointer {
        guard let handle else { throw AMQPError(.connectionLost, "\(server): connection already closed") }
        return handle
    }

    // MARK: - Topology

    func declare(_ topology: AMQPTopology) throws(AMQPError) {
        do {
            try declareAll(topology)
        } catch  where error.code == 406 && !topology.conflictAdvice.isEmpty {
            throw AMQPError(error.kind, code: error.code, "\(error.message). \(topology.conflictAdvice)")
        }
    }

    private func declareAll(_ topology: AMQPTopology) throws(AMQPError) {
        let h = try live()
        var status = cah_amqp_status()
        for exchange in topology.exchanges {
            try check(cah_amqp_exchange_declare(h, Self.channel, exchange.name, exchange.type, 1, &status), status)
        }
        for queue in topology.queues {
            var messages: UInt32 = 0, consumers: UInt32 = 0
            try withArguments(queue.arguments) { (args, count) throws(AMQPError) in
                try check(
                    cah_amqp_queue_declare(h, Self.channel, queue.name, 1, 0, args, count, &messages, &consumers, &status), status)
            }
        }
        for binding in topology.bindings {
            try check(cah_amqp_queue_bind(h, Self.channel, binding.queue, binding.exchange, binding.routingKey, &status), status)
        }
    }

    /// Counts of a queue that exists (passive declare).
    func queueCounts(_ name: String) throws(AMQPError) -> (messages: Int, consumers: Int) {
        let h = try live()
        var status = cah_amqp_status()
        var messages: UInt32 = 0, consumers: UInt32 = 0
        try check(cah_amqp_queue_declare(h, Self.channel, name, 1, 1, nil, 0, &messages, &consumers, &status), status)
        return (Int(messages), Int(consumers))
    }

    // MARK: - Publishing

    func enableConfirms() throws(AMQPError) {
        let h = try live()
        var status = cah_amqp_status()
        try check(cah_amqp_confirm_select(h, Self.channel, &status), status)
        nextPublishTag = 1
    }

    /// What the broker says about published messages on a confirm channel.
    enum PublisherEvent: Equatable {
        /// Confirmed: the message with this tag (and, with `multiple`, every earlier one).
        case ack(tag: UInt64, multiple: Bool)
        /// Refused, likewise.
        case nack(tag: UInt64, multiple: Bool)
        /// A mandatory message no queue took (its ack follows), by its message id.
        case returned(messageID: String, code: Int)
    }

    /// Sends a persistent, mandatory message on the confirm channel without waiting for its
    /// confirm; returns the delivery tag the confirm will carry. Many may be in flight at once.
    /// On plain TCP the message may wait in the outbox until ``flushPublishes()``.
    func publishMandatory(_ message: AMQPMessage) throws(AMQPError) -> UInt64 {
        if outbox != nil {
            let h = try live()
            var status = cah_amqp_status()
            let rc = message.body.withUnsafeBytes { body in
                cah_amqp_publish_buffered(
                    h, Self.channel, message.exchange, message.routingKey, 1, body.baseAddress, body.count,
                    message.contentType, message.messageID, message.header?.name, message.header?.value, &outbox!,
                    &status)
            }
            try check(rc, status)
            if outbox!.len >= Self.outboxFlushBytes { try flushPublishes() }
        } else {
            try send(message, mandatory: true)
        }
        defer { nextPublishTag += 1 }
        return nextPublishTag
    }

    /// Sends what ``publishMandatory(_:)`` wrote ahead, in as few system calls as the socket
    /// allows. After a failure the connection may hold half a frame: close it.
    func flushPublishes() throws(AMQPError) {
        guard outbox != nil, outbox!.len > 0 else { return }
        let h = try live()
        var status = cah_amqp_status()
        try check(cah_amqp_outbox_flush(h, &outbox!, Int32(writeTimeout.wholeMilliseconds), &status), status)
    }

    /// The next confirm or return, waiting at most `timeout` (zero: only what has arrived);
    /// nil when there is none. Services heartbeats meanwhile.
    func nextPublisherEvent(timeout: Duration) throws(AMQPError) -> PublisherEvent? {
        let h = try live()
        var status = cah_amqp_status()
        var tag: UInt64 = 0
        var multiple: Int32 = 0
        var returned = [CChar](repeating: 0, count: 256)
        let event = cah_amqp_next_publisher_event(
            h, max(timeout.wholeMilliseconds, 0), &tag, &multiple, &returned, returned.count, &status)
        switch event {
        case Int32(CAH_PUB_TIMEOUT.rawValue): return nil
        case Int32(CAH_PUB_ACK.rawValue): return .ack(tag: tag, multiple: multiple != 0)
        case Int32(CAH_PUB_NACK.rawValue): return .nack(tag: tag, multiple: multiple != 0)
        case Int32(CAH_PUB_RETURN.rawValue):
            let id = returned.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            return .returned(messageID: id, code: Int(multiple))
        default:
            try check(-1, status)
            return nil
        }
    }

    // MARK: - Consuming

    func startConsuming(queue: String, consumerTag: String, prefetch: UInt16) throws(AMQPError) {
        let h = try live()
        var status = cah_amqp_status()
        try check(cah_amqp_basic_qos(h, Self.channel, prefetch, &status), status)
        try check(cah_amqp_basic_consume(h, Self.channel, queue, consumerTag, &status), status)
    }

    /// Consumes a stream queue from `offset` (nil: from its first message) with at most
    /// `prefetch` unacked messages (streams need a prefetch and acks for credit).
    func startConsumingStream(queue: String, consumerTag: String, offset: Int64?, prefetch: UInt16) throws(AMQPError) {
        let h = try live()
        var status = cah_amqp_status()
        try check(cah_amqp_basic_qos(h, Self.channel, prefetch, &status), status)
        try check(cah_amqp_basic_consume_stream(h, Self.channel, queue, consumerTag, offset ?? -1, &status), status)
    }

    /// Publishes a persistent message without waiting for a confirm (the channel must not be
    /// in confirm mode): for markers whose arrival the caller watches for itself.
    func publishUnconfirmed(_ message: AMQPMessage) throws(AMQPError) {
        try send(message, mandatory: false)
    }

    /// `basic.publish` of a persistent message on channel 1; returns the live handle.
    @discardableResult
    private func send(_ message: AMQPMessage, mandatory: Bool) throws(AMQPError) -> OpaquePointer {
        let h = try live()
        var status = cah_amqp_status()
        let rc = message.body.withUnsafeBytes { body in
            cah_amqp_publish(
                h, Self.channel, message.exchange, message.routingKey, mandatory ? 1 : 0, body.baseAddress, body.count,
                message.contentType, message.messageID, message.header?.name, message.header?.value, &status)
        }
        try check(rc, status)
        return h
    }

    struct RawDelivery {
        var deliveryTag: UInt64
        var redelivered: Bool
        var exchange: String
        var routingKey: String
        var consumerTag: String
        var messageID: String?
        /// Its offset, for a message from a stream queue.
        var streamOffset: Int64?
        /// The body, or its first `maximumBody` bytes when it was longer (see `bodyBytes`).
        var body: [UInt8]
        /// The whole body's length as the broker sent it.
        var bodyBytes: Int
    }

    /// Waits up to `timeout` for a delivery; nil on timeout. Services heartbeats meanwhile.
    /// Copies at most `maximumBody` bytes of a body out of the library's buffer.
    func nextDelivery(timeout: Duration, maximumBody: Int = .max) throws(AMQPError) -> RawDelivery? {
        let h = try live()
        var status = cah_amqp_status()
        var raw = cah_amqp_delivery()
        let rc = cah_amqp_consume(h, timeout.wholeMilliseconds, max(maximumBody, 0), &raw, &status)
        switch rc {
        case Int32(CAH_CONSUME_TIMEOUT.rawValue): return nil
        case Int32(CAH_CONSUME_DELIVERY.rawValue):
            defer { cah_amqp_delivery_free(&raw) }
            func field<T>(_ tuple: T) -> String {
                withUnsafeBytes(of: tuple) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            }
            let id = field(raw.message_id)
            return RawDelivery(
                deliveryTag: raw.delivery_tag, redelivered: raw.redelivered != 0, exchange: field(raw.exchange),
                routingKey: field(raw.routing_key), consumerTag: field(raw.consumer_tag),
                messageID: id.isEmpty ? nil : id, streamOffset: raw.stream_offset >= 0 ? raw.stream_offset : nil,
                body: Array(UnsafeBufferPointer(start: raw.body, count: raw.body_len)), bodyBytes: raw.total_len)
        case Int32(CAH_CONSUME_CANCELLED.rawValue):
            throw AMQPError(.closedByBroker, "\(server): the broker cancelled the consumer (queue deleted?)")
        default:
            try check(-1, status)
            return nil
        }
    }

    func ack(_ tag: UInt64) throws(AMQPError) {
        let h = try live()
        var status = cah_amqp_status()
        try check(cah_amqp_ack(h, Self.channel, tag, &status), status)
    }

    func reject(_ tag: UInt64, requeue: Bool) throws(AMQPError) {
        let h = try live()
        var status = cah_amqp_status()
        try check(cah_amqp_reject(h, Self.channel, tag, requeue ? 1 : 0, &status), status)
    }

    /// Lets heartbeats flow on an idle connection; throws when the connection is gone.
    func idle(timeout: Duration = .zero) throws(AMQPError) {
        let h = try live()
        var status = cah_amqp_status()
        try check(cah_amqp_idle(h, timeout.wholeMilliseconds, &status) == 0 ? 0 : -1, status)
    }
}

/// Calls `body` with the queue arguments as C structs, whose strings live only during the call.
private func withArguments(
    _ arguments: [(key: String, value: AMQPTopology.Queue.Argument)],
    _ body: (UnsafePointer<cah_amqp_arg>?, Int32) throws(AMQPError) -> Void
) throws(AMQPError) {
    // strdup'd copies: C strings that outlive the closures of `withCString`, freed below.
    var owned: [UnsafeMutablePointer<CChar>] = []
    defer { owned.forEach { free($0) } }
    func copy(_ s: String) -> UnsafePointer<CChar> {
        let p = strdup(s)!
        owned.append(p)
        return UnsafePointer(p)
    }
    let args = arguments.map { argument -> cah_amqp_arg in
        switch argument.value {
        case .string(let s):
            cah_amqp_arg(key: copy(argument.key), kind: Int32(CAH_AMQP_ARG_STRING.rawValue), string: copy(s), integer: 0)
        case .integer(let n):
            cah_amqp_arg(key: copy(argument.key), kind: Int32(CAH_AMQP_ARG_I64.rawValue), string: nil, integer: n)
        case .bool(let b):
            cah_amqp_arg(key: copy(argument.key), kind: Int32(CAH_AMQP_ARG_BOOL.rawValue), string: nil, integer: b ? 1 : 0)
        }
    }
    try args.withUnsafeBufferPointer { buffer throws(AMQPError) in try body(buffer.baseAddress, Int32(buffer.count)) }
}

/// Calls `body` with a C string for `text`, or with nil.
private func withOptionalCString<R>(_ text: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let text else { return body(nil) }
    return text.withCString { body($0) }
}
