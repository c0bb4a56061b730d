import ArgumentParser
import AutoHealCore
import DockerAPI
import Engine
import HTTP
import Handlers
import Logging
import Messaging
import ServiceLifecycle

/// autoheal-engine: runs on the control servers; consumes heal requests and acts on them
/// through the Docker Engine API of the control and compute hosts.
@main
struct EngineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autoheal-engine",
        abstract: "Consume Cloud Auto Heal requests from RabbitMQ and heal containers through the Docker API.")

    @Option(name: .long, help: "Config file (default /etc/auto_heal.conf).")
    var config: String?

    func run() async throws {
        let config = ProgramSupport.loadConfigOrExit(self.config)
        let queueLogger = ProgramSupport.bootstrapLogging(config, area: "engine.queue")
        queueLogger.notice("autoheal-engine starting", metadata: [
            "config": "\(config.path)", "brokers": "\(config.rabbitmq.brokers.map(\.description).joined(separator: ","))",
            "control_hosts": "\(config.hosts.control.map(\.name).joined(separator: ","))",
            "compute_hosts": "\(config.hosts.compute.map(\.name).joined(separator: ","))",
        ])

        let http = HTTPClient(name: "docker-http")
        let docker = DockerHosts(config: config, http: http)
        let scopeLoggers = Dictionary(uniqueKeysWithValues: Scope.allCases.map { ($0, Logger(label: "engine.\($0.rawValue)")) })
        let handlers = HandlerTable(
            containerAutoHeal: ContainerReviver(config: config, docker: docker, loggers: scopeLoggers),
            allocationHeal: PlacementAllocationHealer(config: config, docker: docker, logger: scopeLoggers[.control]!),
            libvirtSuspendWakeup: LibvirtWaker(config: config, docker: docker, logger: scopeLoggers[.compute]!))
        let engine = HealEngine(
            settings: HealTopology.settings(from: config, connectionName: "autoheal-engine"),
            topology: HealTopology.declaration(for: config), handlers: handlers, concurrency: config.engine.concurrency, logger: queueLogger)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: engine)], gracefulShutdownSignals: [.sigterm, .sigint], logger: queueLogger))
        try await group.run()
        http.shutdown()
    }
}
