import AMQP
import ArgumentParser
import AutoHealCore
import Foundation
import HTTP
import Messaging

/// Resident memory and CPU time of the release daemons: idle against the local Docker engine,
/// and the engine during a sweep of the simulated fleet (and the monitor holding an event
/// stream open to every simulated host).
struct Resources: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "RSS and CPU of both daemons, idle and with a 1,000-host fleet.")

    @Option(help: "Idle window (seconds); 0 skips the idle figures.") var seconds = 60
    @Option var hosts = 1000
    @Option var containers = 10
    @Option var latencyMs = 2
    @Option(help: "First port of the fleet (below the ephemeral range).") var basePort = 14000
    @Option(help: "Where the release daemons are.") var bin = ".build/release"

    func run() async throws {
        Bench.raiseFileLimit()
        if seconds > 0 {
            try await Bench.withVhost("autoheal-bench-idle") { try await idle(vhost: "autoheal-bench-idle") }
        }
        try await Bench.withVhost("autoheal-bench-fleet") { try await fleet(vhost: "autoheal-bench-fleet") }
    }

    private func writeConfig(_ directory: String, vhost: String, control: [String], containers: [String], events: Bool, sweep: Int) throws
        -> String
    {
        let path = directory + "/auto_heal.conf"
        try """
        [rabbitmq]
        vhost = \(vhost)
        [hosts]
        control_hosts = \(control.joined(separator: ", "))
        compute_hosts =
        [containers]
        control = \(containers.joined(separator: ", "))
        compute =
        [schedule]
        container_auto_heal = \(sweep)
        allocation_heal = 0
        libvirt_suspend_wakeup = 0
        watch_events = \(events)
        [engine]
        state_dir = \(directory)/state
        [metrics]
        engine_listen = 127.0.0.1:19484
        monitor_listen = 127.0.0.1:19485
        [logging]
        log_dir = \(directory)/logs
        """.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        return path
    }

    private func temporaryDirectory(_ name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("autoheal-bench-\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    private func report(_ what: String, _ child: DaemonChild, over window: Duration) async throws {
        guard let start = Bench.usage(pid: child.pid) else { throw BenchError("\(what) is not running; see \(child.output)") }
        var peak = start.rssKB
        let deadline = ContinuousClock.now + window
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(250))
            if let u = Bench.usage(pid: child.pid) { peak = max(peak, u.rssKB) }
        }
        guard let end = Bench.usage(pid: child.pid) else { throw BenchError("\(what) exited; see \(child.output)") }
        let cpu = end.cpuSeconds - start.cpuSeconds
        print(
            String(
                format: "%@: RSS %.1f MB (peak %.1f MB), CPU %.2f s in %.0f s = %.2f %% of a core",
                what, Double(end.rssKB) / 1024, Double(peak) / 1024, cpu, window.timeInterval, 100 * cpu / window.timeInterval))
    }

    /// Both daemons on the local Docker engine with 8 watched containers, after a 10 s warm-up.
    private func idle(vhost: String) async throws {
        let names = (0..<8).map { String(format: "bench-idle-%02d", $0) }
        _ = try? Bench.docker(["rm", "-f"] + names)
        for name in names {
            try Bench.docker([
                "run", "-d", "--name", name, "--network", "none", "--label", "autoheal-bench=1",
                "--health-cmd", "true", "--health-interval", "5s", "autoheal/busybox:latest",
                "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600; done",
            ])
        }
        defer { _ = try? Bench.docker(["rm", "-f"] + names) }
        let directory = try temporaryDirectory("idle")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = try writeConfig(directory, vhost: vhost, control: ["127.0.0.1:2375"], containers: names, events: true, sweep: 60)
        let engine = try DaemonChild(binary: bin + "/autoheal-engine", config: config, directory: directory)
        let monitor = try DaemonChild(binary: bin + "/autoheal-monitor", config: config, directory: directory)
        defer {
            monitor.stop()
            engine.stop()
        }
        try await Task.sleep(for: .seconds(10))
        print("idle: 1 Docker host, \(names.count) watched containers, events on, a sweep every 60 s, /metrics on; \(seconds) s window")
        async let e: Void = report("engine idle", engine, over: .seconds(seconds))
        async let m: Void = report("monitor idle", monitor, over: .seconds(seconds))
        _ = try await (e, m)
    }

    /// The engine sweeping the simulated fleet; the monitor following events on every host.
    private func fleet(vhost: String) async throws {
        let simulator = try FleetSimulator(hosts: hosts, basePort: basePort, latency: .milliseconds(latencyMs))
        simulator.start()
        defer { simulator.stop() }
        let directory = try temporaryDirectory("fleet")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let names = (0..<containers).map { String(format: "svc_%02d", $0) }
        let config = try writeConfig(directory, vhost: vhost, control: simulator.hostEntries, containers: names, events: true, sweep: 0)
        let engine = try DaemonChild(binary: bin + "/autoheal-engine", config: config, directory: directory)
        defer { engine.stop() }
        let log = directory + "/logs/engine-control.log"
        try await waitFor("the engine to consume", timeout: .seconds(30)) {
            ((try? String(contentsOfFile: directory + "/logs/engine-queue.log", encoding: .utf8)) ?? "").contains("connected to broker")
        }
        guard let before = Bench.usage(pid: engine.pid) else { throw BenchError("engine exited; see \(engine.output)") }
        let publisher = HealRequestPublisher(settings: Bench.brokerSettings(vhost: vhost), logger: Bench.silent)
        let clock = ContinuousClock()
        let started = clock.now
        try await publisher.publish(Envelope(payload: .containerAutoHeal, scope: .control), timeout: .seconds(10))
        await publisher.shutdown()
        var peak = before.rssKB
        try await waitFor("the fleet sweep", timeout: .seconds(120)) {
            if let u = Bench.usage(pid: engine.pid) { peak = max(peak, u.rssKB) }
            return ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("sweep finished")
        }
        let wall = (clock.now - started).timeInterval
        guard let after = Bench.usage(pid: engine.pid) else { throw BenchError("engine exited; see \(engine.output)") }
        let line =
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").first { $0.contains("sweep finished") } ?? ""
        print(
            String(
                format: "engine, %d x %d sweep: RSS before %.1f MB, peak %.1f MB, after %.1f MB; CPU %.2f s; publish-to-done %.2f s",
                hosts, containers, Double(before.rssKB) / 1024, Double(peak) / 1024, Double(after.rssKB) / 1024,
                after.cpuSeconds - before.cpuSeconds, wall))
        print(
            "  engine's line: \(line.split(separator: " ").filter { $0.hasPrefix("duration=") || $0.hasPrefix("checked=") || $0.hasPrefix("failed=") }.joined(separator: " "))"
        )
        engine.stop()
        // Foundation's Process.run crashed (memmove) while the simulator closed the engine's
        // thousands of connections on its thread: start the monitor once they are all closed.
        try await waitFor("the simulated hosts to close the engine's connections", timeout: .seconds(30)) {
            simulator.connections.load(ordering: .relaxed) == 0
        }

        let monitor = try DaemonChild(binary: bin + "/autoheal-monitor", config: config, directory: directory)
        defer { monitor.stop() }
        try await waitFor("the monitor to open \(hosts) event streams", timeout: .seconds(60)) {
            guard let r = try? await Bench.http.execute(HTTPRequest(url: "http://127.0.0.1:19485/metrics", timeout: .seconds(2))) else {
                return false
            }
            return r.bodyText.contains("autoheal_event_streams_open \(hosts)")
        }
        try await report("monitor with \(hosts) event streams open", monitor, over: .seconds(10))
    }
}
