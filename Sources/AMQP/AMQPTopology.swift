/// Exchanges, queues and bindings to declare (idempotently) on every new connection.
public struct AMQPTopology: Sendable {
    public struct Exchange: Sendable {
        public var name: String
        /// direct, fanout, topic or headers.
        public var type: String
        public init(name: String, type: String) {
            self.name = name
            self.type = type
        }
    }

    public struct Queue: Sendable {
        public var name: String
        /// `x-queue-type` (classic or quorum), or nil to leave the argument out.
        public var queueType: String?
        /// `x-single-active-consumer`, or nil to leave the argument out.
        public var singleActiveConsumer: Bool?
        /// `x-max-length`, or nil to leave the argument out.
        public var maxLength: Int?
        /// `x-max-length-bytes` (a stream's retention), or nil to leave the argument out.
        public var maxLengthBytes: Int?
        /// `x-stream-max-segment-size-bytes` (a stream drops whole segments), or nil.
        public var streamSegmentBytes: Int?
        public init(
            name: String, queueType: String? = nil, singleActiveConsumer: Bool? = nil, maxLength: Int? = nil,
            maxLengthBytes: Int? = nil, streamSegmentBytes: Int? = nil
        ) {
            self.name = name
            self.queueType = queueType
            self.singleActiveConsumer = singleActiveConsumer
            self.maxLength = maxLength
            self.maxLengthBytes = maxLengthBytes
            self.streamSegmentBytes = streamSegmentBytes
        }

        /// The declaration's arguments, in the order they are sent.
        var arguments: [(key: String, value: Argument)] {
            var result: [(key: String, value: Argument)] = []
            if let queueType { result.append(("x-queue-type", .string(queueType))) }
            if let singleActiveConsumer { result.append(("x-single-active-consumer", .bool(singleActiveConsumer))) }
            if let maxLength { result.append(("x-max-length", .integer(Int64(maxLength)))) }
            if let maxLengthBytes { result.append(("x-max-length-bytes", .integer(Int64(maxLengthBytes)))) }
            if let streamSegmentBytes { result.append(("x-stream-max-segment-size-bytes", .integer(Int64(streamSegmentBytes)))) }
            return result
        }

        enum Argument {
            case string(String)
            case integer(Int64)
            case bool(Bool)
        }
    }

    public struct Binding: Sendable {
        public var queue: String
        public var exchange: String
        public var routingKey: String
        public init(queue: String, exchange: String, routingKey: String) {
            self.queue = queue
            self.exchange = exchange
            self.routingKey = routingKey
        }
    }

    /// Everything is declared durable.
    public var exchanges: [Exchange]
    public var queues: [Queue]
    public var bindings: [Binding]
    /// Added to the error when the broker refuses a declaration because an exchange or queue
    /// already exists with other arguments (406 PRECONDITION_FAILED): how to migrate.
    public var conflictAdvice: String

    public init(exchanges: [Exchange] = [], queues: [Queue] = [], bindings: [Binding] = [], conflictAdvice: String = "") {
        self.exchanges = exchanges
        self.queues = queues
        self.bindings = bindings
        self.conflictAdvice = conflictAdvice
    }
}

/// A message to publish. It is always persistent and published as mandatory.
public struct AMQPMessage: Sendable {
    public var exchange: String
    public var routingKey: String
    public var body: [UInt8]
    public var contentType: String?
    public var messageID: String?
    /// One string header, such as the reason a message was dead-lettered.
    public var header: (name: String, value: String)?

    public init(
        exchange: String, routingKey: String, body: [UInt8], contentType: String? = nil, messageID: String? = nil,
        header: (name: String, value: String)? = nil
    ) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.body = body
        self.contentType = contentType
        self.messageID = messageID
        self.header = header
    }
}
