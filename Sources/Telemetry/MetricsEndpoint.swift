import AutoHealCore
import Logging
import Prometheus
import ServiceLifecycle

/// Serves a daemon's `/metrics` (Prometheus text) and `/healthz` on one TCP address.
///
/// `/healthz` answers 200 `ok` while ``ServiceHealth`` is healthy and 503 with one line per
/// problem otherwise. Before each scrape, `refresh` runs so gauges that are read rather than
/// counted (broker connection, quarantined targets) are current. Stops on graceful shutdown.
public struct MetricsEndpoint: Service {
    private let host: String
    private let port: Int
    private let registry: PrometheusCollectorRegistry
    private let health: ServiceHealth
    private let refresh: @Sendable () async -> Void
    private let logger: Logger

    public init(
        host: String, port: Int, registry: PrometheusCollectorRegistry, health: ServiceHealth,
        refresh: @escaping @Sendable () async -> Void = {}, logger: Logger
    ) {
        self.host = host
        self.port = port
        self.registry = registry
        self.health = health
        self.refresh = refresh
        self.logger = logger
    }

    public func run() async throws {
        let listener: HTTPListener
        do {
            listener = try HTTPListener(host: host, port: port)
        } catch {
            // A daemon without metrics still heals: say why, and keep running.
            logger.error(
                "metrics endpoint failed; /metrics and /healthz are off",
                metadata: ["listen": "\(host):\(port)", "error": "\(error)"])
            return
        }
        let registry = self.registry, health = self.health, refresh = self.refresh
        listener.start(name: "metrics-http") { request in
            switch request.path {
            case "/metrics":
                await refresh()
                return .init(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: registry.emitToBuffer())
            case "/healthz":
                let problems = health.problems
                return .init(
                    status: problems.isEmpty ? 200 : 503,
                    body: Array((problems.isEmpty ? "ok\n" : problems.joined(separator: "\n") + "\n").utf8))
            default:
                return .init(status: 404, body: Array("not found: /metrics and /healthz are served here\n".utf8))
            }
        }
        logger.info("serving /metrics and /healthz", metadata: ["listen": "\(host):\(port)"])
        defer { listener.stop() }
        // Until the graceful shutdown (or cancellation) of the service group.
        try? await gracefulShutdown()
    }
}
