import Foundation
import Logging
import Synchronization

/// Reads the messages of a small queue every `interval` without consuming them, on its own
/// thread and connection, and hands their bodies to `onRead` (an empty array when the queue
/// is empty). Used for state kept on the broker, such as a maintenance pause.
///
/// While the broker is away, `onRead` is not called; the watcher reconnects with back-off.
public final class AMQPQueueWatcher: Sendable {
    private let stopping = Mutex(false)

    public init(
        settings: AMQPSettings, topology: AMQPTopology, queue: String, interval: Duration, logger: Logger,
        onRead: @escaping @Sendable ([[UInt8]]) -> Void
    ) {
        let thread = Thread { [self] in
            var connection: AMQPConnection? = nil
            var backoff = ReconnectBackoff()
            var serverIndex = 0
            while !stopping.withLock({ $0 }) {
                var wait = interval
                do {
                    if connection == nil {
                        let server = settings.servers[serverIndex % settings.servers.count]
                        serverIndex += 1
                        connection = try AMQPConnection(settings: settings, server: server, topology: topology)
                        backoff.reset()
                    }
                    onRead(try connection!.peek(queue, limit: 8))
                } catch {
                    connection?.close()
                    connection = nil
                    wait = backoff.next()
                    logger.warning("cannot read queue \(queue); retrying", metadata: ["error": "\(error)", "retry_in": "\(wait)"])
                }
                let until = ContinuousClock.now + wait
                while ContinuousClock.now < until, !stopping.withLock({ $0 }) {
                    Thread.sleep(forTimeInterval: min((until - .now).timeInterval, 0.1))
                }
            }
            connection?.close()
        }
        thread.name = "amqp-watch"
        thread.start()
    }

    public func stop() { stopping.withLock { $0 = true } }
}
