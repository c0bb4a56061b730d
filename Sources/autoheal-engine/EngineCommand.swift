import AutoHealCore
import DockerAPI
import Engine
import FoundationEssentials
import HTTP
import Handlers
import Journal
import Logging
import Messaging
import NovaAPI
import Policy
import ServiceLifecycle
import Telemetry

/// autoheal-engine: runs on the control servers; consumes heal requests and acts on them
/// through the Docker Engine API of the control and compute hosts.
@main
struct EngineCommand {
    static func main() {
        DaemonCommandLine.main(
            program: "autoheal-engine",
            abstract: "Consume Cloud Auto Heal requests from RabbitMQ and heal containers through the Docker API."
        ) { line in try await EngineCommand(config: line.config).run() }
    }

    /// `--config`: the config file (nil: /etc/auto_heal.conf).
    var config: String?

    func run() async throws {
        let config = ProgramSupport.loadConfigOrExit(self.config)
        let queueLogger = ProgramSupport.bootstrapLogging(config, area: "engine.queue")
        let registry = MetricsBootstrap.prometheus()
        let health = ServiceHealth()
        queueLogger.notice(
            "autoheal-engine starting",
            metadata: [
                "config": "\(config.path)", "brokers": "\(config.rabbitmq.brokers.map(\.description).joined(separator: ","))",
                "control_hosts": "\(config.hosts.control.map(\.name).joined(separator: ","))",
                "compute_hosts": "\(config.hosts.compute.map(\.name).joined(separator: ","))",
            ])

        let http = HTTPClient(name: "docker-http")
        let docker = DockerHosts(config: config, http: http)
        let scopeLoggers = Dictionary(uniqueKeysWithValues: Scope.allCases.map { ($0, Logger(label: "engine.\($0.rawValue)")) })
        let settings = HealTopology.settings(from: config, connectionName: "autoheal-engine")
        let topology = HealTopology.declaration(for: config)
        let notifier: any Notifier =
            config.notify.webhookURL.map {
                WebhookNotifier(url: $0, http: http, logger: queueLogger)
            } ?? SilentNotifier()
        // One publisher (one broker connection) for dead letters, requeues and the shared state.
        let publisher = HealRequestPublisher(settings: settings, topology: topology, logger: queueLogger)
        var journal: DecisionJournal? = nil
        do {
            journal = try DecisionJournal(directory: config.engine.stateDirectory)
            queueLogger.info("decision journal open", metadata: ["journal": "\(journal!.path)"])
        } catch {
            queueLogger.error(
                "cannot open the decision journal; healing goes on without it (budgets are kept on the broker only)",
                metadata: ["state_dir": "\(config.engine.stateDirectory)", "error": "\(error)"])
        }
        if config.policy.dryRun { queueLogger.notice("dry_run = true: the engine decides and logs, and changes nothing") }
        let requeue = RequeueScheduler(publisher: publisher, logger: queueLogger)
        let identity = "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
        let nova = config.nova.map { NovaClient(settings: $0, http: http) }
        let executor = PolicyExecutor(
            config: config, runtimes: docker, nova: nova, identity: identity, journal: journal, notifier: notifier, requeuer: requeue,
            publisher: BrokerStatePublisher(publisher: publisher), logger: queueLogger)
        if let journal {
            do {
                await executor.restore(try journal.budgets())
            } catch {
                queueLogger.warning(
                    "cannot read the budgets kept in the journal; the broker's copy is used",
                    metadata: ["journal": "\(journal.path)", "error": "\(error)"])
            }
        }
        let follower = SharedStateFollower(settings: settings, topology: topology, executor: executor, logger: queueLogger)
        let observer = Observer(config: config, runtimes: docker, nova: nova)
        let handlers = HandlerTable(
            containerAutoHeal: ContainerReviver(config: config, observer: observer, executor: executor, loggers: scopeLoggers),
            allocationHeal: PlacementAllocationHealer(
                config: config, observer: observer, executor: executor, logger: scopeLoggers[.control]!),
            libvirtSuspendWakeup: LibvirtWaker(config: config, observer: observer, executor: executor, logger: scopeLoggers[.compute]!),
            computeHostFailure: ComputeHostHealer(config: config, observer: observer, executor: executor, logger: scopeLoggers[.compute]!))
        let engine = HealEngine(
            settings: settings, topology: topology, handlers: handlers, concurrency: config.engine.concurrency, journal: journal,
            health: health, publisher: publisher, targetRefusal: { config.refusal(of: $0) }, logger: queueLogger)
        // Shut down in reverse order: the engine first (running handlers finish and ack), then
        // the requeues, then the shared state, then the endpoint.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let listen = config.metrics.engineListen {
            let endpoint = MetricsEndpoint(
                host: listen.host, port: listen.port, registry: registry, health: health,
                refresh: {
                    HealMetrics.brokerConnected(health.brokerConnected)
                    HealMetrics.quarantinedTargets(await executor.quarantinedCount())
                }, logger: queueLogger)
            // The endpoint ends with the engine, never the other way round.
            services.append(.init(service: endpoint, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore))
        }
        if let journal {
            services.append(.init(service: JournalPruner(journal: journal, keepDays: config.engine.journalDays, logger: queueLogger)))
        }
        services += [.init(service: follower), .init(service: requeue), .init(service: engine)]
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: queueLogger))
        try await group.run()
        await publisher.shutdown()
        http.shutdown()
    }
}
