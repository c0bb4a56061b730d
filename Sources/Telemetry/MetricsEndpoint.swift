import AutoHealCore
import FlyingFox
import FlyingSocks
import Foundation
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
        let server: HTTPServer
        do {
            server =
                host.contains(":")
                ? HTTPServer(address: try sockaddr_in6.inet6(ip6: host, port: UInt16(port)), timeout: 10, logger: .disabled)
                : HTTPServer(address: try sockaddr_in.inet(ip4: host, port: UInt16(port)), timeout: 10, logger: .disabled)
        } catch {
            logger.error(
                "metrics endpoint: \(host) is not an IP address; /metrics and /healthz are off", metadata: ["listen": "\(host):\(port)"])
            return
        }
        let registry = self.registry, health = self.health, refresh = self.refresh
        await server.appendRoute("GET /metrics") { _ in
            await refresh()
            return HTTPResponse(
                statusCode: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: Data(registry.emitToBuffer()))
        }
        await server.appendRoute("GET /healthz") { _ in
            let problems = health.problems
            return HTTPResponse(
                statusCode: problems.isEmpty ? .ok : .serviceUnavailable, headers: [.contentType: "text/plain; charset=utf-8"],
                body: Data((problems.isEmpty ? "ok\n" : problems.joined(separator: "\n") + "\n").utf8))
        }
        logger.info("serving /metrics and /healthz", metadata: ["listen": "\(host):\(port)"])
        do {
            try await withGracefulShutdownHandler {
                try await server.run()
            } onGracefulShutdown: {
                Task { await server.stop() }
            }
        } catch is CancellationError {
        } catch  where Task.isShuttingDownGracefully {
            // server.stop() ends run() with an error of its own: that is the shutdown, not a failure.
        } catch {
            // A daemon without metrics still heals: say why, and keep running.
            logger.error(
                "metrics endpoint failed; /metrics and /healthz are off",
                metadata: [
                    "listen": "\(host):\(port)", "error": "\(error)",
                ])
        }
    }
}
