/// One-shot questions about queues, each on a short-lived connection of its own.
///
/// These calls block the calling thread for one round trip to the broker (milliseconds on
/// a healthy broker, at most the connect timeout otherwise): meant for the CLI and tests,
/// not for a daemon's hot path.
public enum AMQPQueueInspector {
    /// Messages ready for delivery (not counting unacked ones) and consumers of a queue.
    public static func counts(of queue: String, settings: AMQPSettings) throws(AMQPError) -> (ready: Int, consumers: Int) {
        let connection = try AMQPConnection(settings: settings, server: settings.servers[0], topology: AMQPTopology())
        defer { connection.close() }
        let (messages, consumers) = try connection.queueCounts(queue)
        return (messages, consumers)
    }
}
