import AMQP
import AutoHealCore
import Handlers
import Logging
import Messaging
import Synchronization

/// Restart budgets shared through the broker: the acting engine publishes a
/// ``BudgetSnapshot`` after each change to `cloud-auto-heal.budget` (which keeps the last
/// few), and every engine is fed the newest one by ``BrokerStateWatch`` (``update(_:)``). With one active engine at a
/// time (single active consumer), the standby always holds the active one's budgets, and
/// continues with them when it takes over.
public final class BrokerBudgetShare: BudgetShare, Sendable {
    final class Newest: Sendable {
        let snapshot = Mutex<BudgetSnapshot?>(nil)
        func update(_ bodies: [[UInt8]]) {
            guard let newest = BudgetSnapshot.newest(of: bodies) else { return }
            snapshot.withLock { current in
                if current.map({ $0.at < newest.at }) ?? true { current = newest }
            }
        }
    }

    private let newest = Newest()
    private let publisher: HealRequestPublisher
    private let logger: Logger

    /// - Parameter publisher: the engine's publisher (shared with its dead letters); the
    ///   caller shuts it down.
    public init(publisher: HealRequestPublisher, logger: Logger) {
        self.logger = logger
        self.publisher = publisher
    }

    /// Takes the bodies just read from the broker's budget queue.
    public func update(_ bodies: [[UInt8]]) { newest.update(bodies) }

    public func publish(_ snapshot: BudgetSnapshot) async {
        newest.snapshot.withLock { current in
            if current.map({ $0.at < snapshot.at }) ?? true { current = snapshot }
        }
        do {
            try await publisher.publishBudgets(snapshot, timeout: .seconds(3))
        } catch {
            logger.warning("cannot leave the restart budgets on the broker; another engine taking over would not see them",
                           metadata: ["error": "\(error)"])
        }
    }

    public func latest() async -> BudgetSnapshot? { newest.snapshot.withLock { $0 } }
}
