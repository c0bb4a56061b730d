import AutoHealCore
import Foundation
import Logging
import Synchronization

/// Reads the messages of a few small queues every `interval` without consuming them, on one
/// thread and connection, and hands their bodies to `onRead`, by queue (an empty array for an
/// empty queue). Used for state kept on the broker, such as a maintenance pause.
///
/// While the broker is away, `onRead` is not called; the watcher reconnects with back-off.
public final class AMQPQueueWatcher: Sendable {
    private let stopping = Mutex(false)

    public init(
        settings: AMQPSettings, topology: AMQPTopology, queues: [String], interval: Duration, logger: Logger,
        onRead: @escaping @Sendable ([String: [[UInt8]]]) -> Void
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
                    var reads: [String: [[UInt8]]] = [:]
                    for queue in queues { reads[queue] = try connection!.peek(queue, limit: 8) }
                    onRead(reads)
                } catch {
                    connection?.close()
                    connection = nil
                    wait = backoff.next()
                    logger.warning("cannot read queues \(queues.joined(separator: ", ")); retrying", metadata: ["error": "\(error)", "retry_in": "\(wait)"])
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
