import AMQP
import AutoHealCore
import Logging
import Messaging
import Policy
import ServiceLifecycle

/// Follows the broker's state stream (`cloud-auto-heal.state`) for the engine: every message
/// from the stream's start, in the broker's order, goes to the ``PolicyExecutor``, which
/// acts on nothing until it has read up to the marker this follower appends. A Service of
/// the engine's group; it reconnects by itself while the broker is away (the state read so
/// far stays in force).
public struct SharedStateFollower: Service {
    private let settings: AMQPSettings
    private let topology: AMQPTopology
    private let executor: PolicyExecutor
    private let logger: Logger

    public init(settings: AMQPSettings, topology: AMQPTopology, executor: PolicyExecutor, logger: Logger) {
        self.settings = settings
        self.topology = topology
        self.executor = executor
        self.logger = logger
    }

    public func run() async throws {
        let reader = AMQPStreamReader(
            settings: settings, topology: topology, queue: Topology.stateQueue, marker: SharedStateMessage.syncMarker, logger: logger)
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                for await event in reader.events {
                    switch event {
                    case .message(let offset, let body): await executor.apply(body, offset: offset)
                    case .caughtUp(let offset): await executor.caughtUp(at: offset)
                    }
                }
            } onGracefulShutdown: {
                reader.stop()
            }
        } onCancel: {
            reader.stop()
        }
    }
}

/// Leaves the engine's changes to the shared state on the broker, through its publisher.
public struct BrokerStatePublisher: StatePublisher {
    private let publisher: HealRequestPublisher

    public init(publisher: HealRequestPublisher) { self.publisher = publisher }

    /// Waits at most 3 s for the broker: a slow broker delays an action by that much at most.
    public func publish(_ message: SharedStateMessage) async throws {
        try await publisher.publishState(message, timeout: .seconds(3))
    }
}
