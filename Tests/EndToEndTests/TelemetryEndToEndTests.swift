import AutoHealTestSupport
import Foundation
import HTTP
import Testing

/// The daemons' /metrics and /healthz, scraped over HTTP while they heal a container and
/// while their broker (a private node of the test's own) is stopped and started again.
@Suite("Metrics and health endpoints", .ownThreads, .timeLimit(.minutes(3)))
struct TelemetryEndToEndTests {
    static func get(_ url: String) async -> HTTPResponse? {
        try? await TestEnvironment.http.execute(HTTPRequest(url: url, timeout: .seconds(3), connectTimeout: .seconds(1)))
    }

    @Test func countersMoveWhenAContainerIsHealedAndHealthzFollowsTheBroker() async throws {
        try await TestEnvironment.requireDocker()
        let node = try PrivateRabbitNode(name: "autoheal-telemetry", port: 5716)
        defer { node.destroy() }
        let directory = try TestEnvironment.temporaryDirectory("autoheal-metrics")
        defer { try? FileManager.default.removeItem(at: directory) }
        let container = try TestContainer(name: TestEnvironment.uniqueName("metrics-nova_api"))
        defer { container.remove() }
        try await container.waitFor(health: "healthy")

        let engineURL = "http://127.0.0.1:19464", monitorURL = "http://127.0.0.1:19465"
        let config = try TestConfig.write(
            in: directory, vhost: "/", control: [container.name],
            overrides: [
                "rabbitmq.rabbitmq_addr": "127.0.0.1:\(node.port)", "rabbitmq.heartbeat": "2", "policy.revive_stopped": "true",
                "metrics.engine_listen": "127.0.0.1:19464", "metrics.monitor_listen": "127.0.0.1:19465",
            ])
        let engine = try DaemonProcess("autoheal-engine", arguments: ["--config", config], outputDirectory: directory)
        let monitor = try DaemonProcess("autoheal-monitor", arguments: ["--config", config], outputDirectory: directory)
        do {
            for url in [engineURL, monitorURL] {
                try await waitUntil("\(url)/healthz to answer 200", timeout: .seconds(30)) {
                    await Self.get(url + "/healthz")?.status == 200
                }
            }
            try await waitUntil("the first sweep to be counted", timeout: .seconds(30)) {
                guard let body = await Self.get(engineURL + "/metrics")?.bodyText, let scrape = try? PrometheusText(parsing: body) else {
                    return false
                }
                return scrape.value("autoheal_messages_consumed_total", ["payload": "container_auto_heal"]) > 0
            }
            let before = try PrometheusText(parsing: await Self.get(engineURL + "/metrics")!.bodyText)
            let started = ["handler": "container_auto_heal", "kind": "start", "result": "done"]
            #expect(before.value("autoheal_actions_total", started) == 0)

            try container.kill()
            try await container.waitFor(health: "healthy", timeout: .seconds(30))
            let engineScrape = try PrometheusText(parsing: await Self.get(engineURL + "/metrics")!.bodyText)
            #expect(engineScrape.value("autoheal_actions_total", started) == 1)
            #expect(engineScrape.types["autoheal_actions_total"] == "counter")
            #expect(engineScrape.value("autoheal_messages_consumed_total") > before.value("autoheal_messages_consumed_total"))
            #expect(engineScrape.value("autoheal_sweep_duration_seconds_count", ["payload": "container_auto_heal"]) > 0)
            #expect(engineScrape.types["autoheal_sweep_duration_seconds"] == "histogram")
            #expect(engineScrape.value("autoheal_broker_connected") == 1)
            #expect(engineScrape.value("autoheal_docker_host_up", ["host": "unix://\(TestEnvironment.dockerSocket)"]) == 1)
            #expect(engineScrape.samples.contains { $0.name == "autoheal_quarantined_targets" && $0.value == 0 })
            let monitorScrape = try PrometheusText(parsing: await Self.get(monitorURL + "/metrics")!.bodyText)
            #expect(monitorScrape.value("autoheal_messages_published_total", ["payload": "container_auto_heal", "scope": "control"]) > 0)
            #expect(monitorScrape.value("autoheal_broker_connected") == 1)

            // The broker goes away: both daemons say so on /healthz, and recover with it.
            try node.stop()
            for url in [engineURL, monitorURL] {
                try await waitUntil("\(url)/healthz to turn 503", timeout: .seconds(30)) { await Self.get(url + "/healthz")?.status == 503 }
                #expect(await Self.get(url + "/healthz")?.bodyText.contains("broker connection down") == true)
            }
            #expect(try PrometheusText(parsing: await Self.get(engineURL + "/metrics")!.bodyText).value("autoheal_broker_connected") == 0)
            try node.start()
            for url in [engineURL, monitorURL] {
                try await waitUntil("\(url)/healthz to be 200 again", timeout: .seconds(60)) {
                    await Self.get(url + "/healthz")?.status == 200
                }
            }
        } catch {
            Issue.record("engine output:\n\(engine.output.suffix(3000))\nmonitor output:\n\(monitor.output.suffix(2000))")
            _ = try? await engine.terminate()
            _ = try? await monitor.terminate()
            throw error
        }
        #expect(try await engine.terminate() == 0)
        #expect(try await monitor.terminate() == 0)
    }
}
