import AMQP
import AutoHealCore
import Logging

/// Reads the state the engines share on the broker — pause notices and restart budgets —
/// every `interval`, on one connection and thread, and feeds it to ``PauseWatch`` and
/// ``BrokerBudgetShare``.
public final class BrokerStateWatch: Sendable {
    private let watcher: AMQPQueueWatcher

    public init(
        settings: AMQPSettings, topology: AMQPTopology, pause: PauseWatch, budgets: BrokerBudgetShare, interval: Duration = .seconds(2),
        logger: Logger
    ) {
        watcher = AMQPQueueWatcher(
            settings: settings, topology: topology, queues: [Topology.pauseQueue, Topology.budgetQueue], interval: interval, logger: logger
        ) { reads in
            pause.update(reads[Topology.pauseQueue] ?? [])
            budgets.update(reads[Topology.budgetQueue] ?? [])
        }
    }

    public func stop() { watcher.stop() }
}
