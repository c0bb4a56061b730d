/// Why a broker operation failed.
public struct AMQPError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Could not open a socket or log in.
        case connect
        /// The broker closed the connection or channel (see ``AMQPError/code``, e.g. 406
        /// PRECONDITION_FAILED when a queue exists with other arguments).
        case closedByBroker
        /// The socket broke or the client library failed.
        case connectionLost
        /// The broker refused the message (basic.nack).
        case nacked
        /// No queue is bound for the message's exchange and routing key (basic.return).
        case unroutable
        /// The deadline passed before the broker confirmed.
        case timedOut
        /// The client was shut down.
        case shutdown
        /// Dropped from a full publish backlog while the broker was away.
        case dropped
    }

    public var kind: Kind
    /// AMQP reply code where the broker gave one, else 0.
    public var code: Int
    public var message: String

    public init(_ kind: Kind, code: Int = 0, _ message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    public var description: String { code != 0 ? "\(message) (code \(code))" : message }
}
