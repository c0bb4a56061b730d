import AutoHealCore
import DockerAPI
import Handlers
import Journal
import Logging
import Policy

/// Handlers as the engine builds them — observing through the config's hosts and acting only
/// through a ``PolicyExecutor`` — for tests that run one handler without a broker.
public enum TestHealing {
    /// An executor with no broker behind it (it does not wait for the shared state).
    public static func executor(
        _ config: AutoHealConfig, runtimes: (any ContainerRuntimes)? = nil, journal: DecisionJournal? = nil,
        notifier: any Notifier = SilentNotifier(), requeuer: any Requeuer = NoRequeue(), logger: Logger = Logger(label: "test.policy")
    ) -> PolicyExecutor {
        PolicyExecutor(
            config: config, runtimes: runtimes ?? DockerHosts(config: config, http: TestEnvironment.http), identity: "test",
            journal: journal, notifier: notifier, requeuer: requeuer, readsSharedState: false, logger: logger)
    }

    public static func observer(_ config: AutoHealConfig, runtimes: (any ContainerRuntimes)? = nil) -> Observer {
        Observer(config: config, runtimes: runtimes ?? DockerHosts(config: config, http: TestEnvironment.http))
    }

    public static func reviver(
        _ config: AutoHealConfig, executor: PolicyExecutor? = nil, runtimes: (any ContainerRuntimes)? = nil, logger: Logger
    ) -> ContainerReviver {
        ContainerReviver(
            config: config, observer: observer(config, runtimes: runtimes),
            executor: executor ?? self.executor(config, runtimes: runtimes, logger: logger), loggers: [.control: logger, .compute: logger])
    }

    public static func waker(
        _ config: AutoHealConfig, executor: PolicyExecutor? = nil, runtimes: (any ContainerRuntimes)? = nil, logger: Logger
    ) -> LibvirtWaker {
        LibvirtWaker(
            config: config, observer: observer(config, runtimes: runtimes),
            executor: executor ?? self.executor(config, runtimes: runtimes, logger: logger), logger: logger)
    }

    public static func allocationHealer(
        _ config: AutoHealConfig, executor: PolicyExecutor? = nil, runtimes: (any ContainerRuntimes)? = nil, logger: Logger
    ) -> PlacementAllocationHealer {
        PlacementAllocationHealer(
            config: config, observer: observer(config, runtimes: runtimes),
            executor: executor ?? self.executor(config, runtimes: runtimes, logger: logger), logger: logger)
    }
}
