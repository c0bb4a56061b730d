import AutoHealCore
import DockerAPI
import HTTP
import Logging
import Messaging
import Monitor
import ServiceLifecycle
import Telemetry

/// autoheal-monitor: runs on the deploy server; publishes heal requests on a schedule.
@main
struct MonitorCommand {
    static func main() {
        DaemonCommandLine.main(
            program: "autoheal-monitor",
            abstract: "Publish Cloud Auto Heal requests to RabbitMQ on a schedule."
        ) { line in try await MonitorCommand(config: line.config).run() }
    }

    /// `--config`: the config file (nil: /etc/auto_heal.conf).
    var config: String?

    func run() async throws {
        let config = ProgramSupport.loadConfigOrExit(self.config)
        let logger = ProgramSupport.bootstrapLogging(config, area: "monitor")
        let registry = MetricsBootstrap.prometheus()
        let health = ServiceHealth()
        logger.notice(
            "autoheal-monitor starting",
            metadata: [
                "config": "\(config.path)", "brokers": "\(config.rabbitmq.brokers.map(\.description).joined(separator: ","))",
            ])
        let publisher = HealRequestPublisher(
            settings: HealTopology.settings(from: config, connectionName: "autoheal-monitor"),
            topology: HealTopology.declaration(for: config), maxBacklog: config.rabbitmq.publishBacklog, logger: logger)
        let scheduler = PayloadScheduler(schedule: config.schedule, publisher: publisher, health: health, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: scheduler)]
        let http = HTTPClient(name: "docker-events")
        let watcher: DockerEventWatcher? =
            config.watchEvents
            ? DockerEventWatcher(
                watches: DockerEventWatcher.watches(for: config, docker: DockerHosts(config: config, http: http)),
                publisher: publisher, health: health, logger: logger)
            : nil
        if let watcher {
            services.append(.init(service: watcher))
            // Libvirt lifecycle events of the compute hosts, through the same Docker clients.
            let computeHosts = LibvirtEventWatcher.watches(for: config, docker: DockerHosts(config: config, http: http))
            if !computeHosts.isEmpty {
                let libvirt = LibvirtEventWatcher(
                    watches: computeHosts, publisher: publisher, commandTimeout: .seconds(config.libvirt.commandTimeoutSeconds),
                    logger: logger)
                services.append(.init(service: libvirt))
            }
        } else {
            logger.notice("watch_events = false: only the periodic sweeps find faults")
        }
        if let listen = config.metrics.monitorListen {
            let endpoint = MetricsEndpoint(
                host: listen.host, port: listen.port, registry: registry, health: health,
                refresh: {
                    HealMetrics.brokerConnected(publisher.isConnected)
                    HealMetrics.eventStreamsOpen(watcher?.streamsOpen ?? 0)
                }, logger: logger)
            services.append(.init(service: endpoint, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore))
        }
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        await publisher.shutdown()
        http.shutdown()
        logger.notice("monitor stopped")
    }
}
