import ArgumentParser
import AutoHealCore
import DockerAPI
import Foundation
import HTTP

/// Detection-to-action latency and break-to-healthy time with the real daemons (release
/// build), the local RabbitMQ and Docker: faults are made through the Docker API, and every
/// time is read from Docker's own event stream (the same clock for fault and action).
struct Latency: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Heal latency, events vs polling: single faults one at a time, and bursts of 10 at once.")

    @Option(help: "events or polling.") var mode = "events"
    @Option(help: "Sweep period in polling mode (seconds).") var pollPeriod = 5
    @Option(help: "Single faults (alternately killed and made unhealthy).") var faults = 20
    @Option(help: "Bursts of 10 killed at once.") var bursts = 2
    @Option(help: "Where the release daemons are.") var bin = ".build/release"

    /// Docker's events for the bench containers, kept in order.
    final class EventLog: Sendable {
        private let events = Locked<[DockerEvent]>([])
        func append(_ e: DockerEvent) { events.withLock { $0.append(e) } }
        /// The first event for `name` after `after` (ns) whose action satisfies `matches`.
        func first(_ name: String, after: Int64, _ matches: (String) -> Bool) -> DockerEvent? {
            events.withLock { all in all.first { $0.containerName == name && $0.timeNano > after && matches($0.action) } }
        }
    }

    struct Sample {
        /// Docker's fault event → the engine sending the action (its log line's time minus the call's duration).
        var detectToIssued: Double
        /// Docker's fault event → Docker's event for the action (`start` comes once the container runs).
        var detectToDone: Double
        var breakToHealthy: Double
        var issuedAt: Double
    }

    /// When the engine sent its action on `name` after `after` (s since the epoch), read from
    /// its log: the `revived container` line's time minus the call's `duration`.
    static func issued(_ name: String, after: Double, log: String) -> Double? {
        for line in log.split(separator: "\n") where line.contains("revived container") && line.contains("container=\(name) ") {
            guard let stamp = line.split(separator: " ").first,
                let at = try? Date(String(stamp), strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true)),
                let duration = line.split(separator: " ").first(where: { $0.hasPrefix("duration=") }).flatMap({
                    Double($0.dropFirst(9).dropLast())
                })
            else { continue }
            let issued = at.timeIntervalSince1970 - duration
            if issued > after - 0.005 { return issued }  // log times are milliseconds
        }
        return nil
    }

    func run() async throws {
        guard mode == "events" || mode == "polling" else { throw ValidationError("--mode events|polling") }
        let names = (0..<10).map { String(format: "bench-lat-%02d", $0) }
        _ = try? Bench.docker(["rm", "-f"] + names)
        for name in names {
            try Bench.docker([
                "run", "-d", "--name", name, "--network", "none", "--label", "autoheal-bench=1",
                "--health-cmd", "test -f /tmp/ok", "--health-interval", "1s", "--health-retries", "1", "--health-timeout", "2s",
                "autoheal/busybox:latest", "sh", "-c", "trap 'exit 0' TERM; touch /tmp/ok; while :; do sleep 0.2; done",
            ])
        }
        defer { _ = try? Bench.docker(["rm", "-f"] + names) }

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autoheal-bench-latency-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // AUTOHEAL_BENCH_KEEP=1 keeps the daemons' config, state and logs.
        defer {
            if ProcessInfo.processInfo.environment["AUTOHEAL_BENCH_KEEP"] != "1" { try? FileManager.default.removeItem(atPath: directory) }
        }
        let vhost = "autoheal-bench-latency"
        try await Bench.makeVhost(vhost)
        let config = directory + "/auto_heal.conf"
        try """
        [rabbitmq]
        vhost = \(vhost)
        [hosts]
        control_hosts = 127.0.0.1:2375
        compute_hosts =
        [containers]
        control = \(names.joined(separator: ", "))
        compute =
        [schedule]
        container_auto_heal = \(mode == "events" ? 60 : pollPeriod)
        allocation_heal = 0
        libvirt_suspend_wakeup = 0
        watch_events = \(mode == "events")
        [engine]
        stop_timeout = 2
        state_dir = \(directory)/state
        [policy]
        grace_after_start = 0
        backoff_initial = 0
        max_attempts = 100
        attempt_window = 60
        revive_stopped = true
        [metrics]
        engine_listen =
        monitor_listen =
        [logging]
        log_dir = \(directory)/logs
        level = \(ProcessInfo.processInfo.environment["AUTOHEAL_BENCH_LOG_LEVEL"] ?? "info")
        """.write(toFile: config, atomically: true, encoding: .utf8)
        chmod(config, 0o600)

        let docker = DockerClient(host: "local", address: .unix(path: "/var/run/docker.sock"), http: Bench.http)
        let log = EventLog()
        let stream = try await docker.events(containers: names, actions: ["die", "kill", "start", "restart", "unpause", "health_status"])
        let reader = Task {
            for try await item in stream { if case .event(let e) = item { log.append(e) } }
        }
        defer { reader.cancel() }
        for name in names { try await waitHealthy(name, docker: docker) }

        let engine = try DaemonChild(binary: bin + "/autoheal-engine", config: config, directory: directory)
        let monitor = try DaemonChild(binary: bin + "/autoheal-monitor", config: config, directory: directory)
        defer {
            monitor.stop()
            engine.stop()
            Task { await Bench.dropVhost(vhost) }
        }
        try await waitFor("the engine and monitor to start", timeout: .seconds(30)) {
            let text = (try? String(contentsOfFile: directory + "/logs/engine-control.log", encoding: .utf8)) ?? ""
            return text.contains("sweep finished")
        }
        print("mode \(mode)\(mode == "polling" ? " (sweep every \(pollPeriod) s)" : ""): \(faults) single faults, \(bursts) bursts of 10")

        var single: [Sample] = []
        for i in 0..<faults {
            let name = names[i % names.count]
            let unhealthy = i % 2 == 1
            let sample = try await fault(
                [name], unhealthy: unhealthy, log: log, docker: docker, engineLog: directory + "/logs/engine-control.log")[0]
            single.append(sample)
        }
        var burst: [Sample] = []
        var spreads: [Double] = []
        for _ in 0..<bursts {
            let samples = try await fault(
                names, unhealthy: false, log: log, docker: docker, engineLog: directory + "/logs/engine-control.log")
            burst += samples
            let issued = samples.map(\.issuedAt)
            spreads.append(issued.max()! - issued.min()!)
        }
        print("single faults, detection → action sent:    " + Bench.summary(single.map(\.detectToIssued)))
        print("single faults, detection → Docker done:    " + Bench.summary(single.map(\.detectToDone)))
        print("single faults, break → healthy again:      " + Bench.summary(single.map(\.breakToHealthy)))
        if !burst.isEmpty {
            print("bursts of 10, detection → action sent:     " + Bench.summary(burst.map(\.detectToIssued)))
            print("bursts of 10, detection → Docker done:     " + Bench.summary(burst.map(\.detectToDone)))
            print("bursts of 10, break → healthy again:       " + Bench.summary(burst.map(\.breakToHealthy)))
            print("bursts of 10, first to last action sent:   " + spreads.map { String(format: "%.3f s", $0) }.joined(separator: ", "))
        }
    }

    /// Breaks `names` at once (kill, or health check made to fail) and waits for each to be
    /// acted on and healthy again.
    private func fault(_ names: [String], unhealthy: Bool, log: EventLog, docker: DockerClient, engineLog: String) async throws -> [Sample]
    {
        let broken = DockerTimestamp.now.nanosecondsSinceEpoch
        try await withThrowingTaskGroup(of: Void.self) { group in
            for name in names {
                group.addTask {
                    if unhealthy {
                        _ = try await docker.exec(name, command: ["rm", "-f", "/tmp/ok"], timeout: .seconds(10))
                    } else {
                        let r = try await Bench.http.execute(
                            HTTPRequest(
                                method: "POST", url: "http://localhost/containers/\(name)/kill", unixSocketPath: "/var/run/docker.sock"))
                        guard r.status == 204 else { throw BenchError("kill \(name): \(r.status) \(r.bodyText)") }
                    }
                }
            }
            try await group.waitForAll()
        }
        var samples: [Sample] = []
        for name in names {
            var detected: DockerEvent? = nil, acted: DockerEvent? = nil, healthy: DockerEvent? = nil
            var sent: Double? = nil
            do {
                try await waitFor("\(name) to be healed", timeout: .seconds(120)) {
                    detected =
                        detected
                        ?? log.first(name, after: broken - 1) { unhealthy ? $0 == "health_status: unhealthy" : $0 == "die" }
                    guard let d = detected else { return false }
                    acted = acted ?? log.first(name, after: d.timeNano) { ["start", "kill", "restart", "unpause"].contains($0) }
                    guard let a = acted else { return false }
                    healthy = healthy ?? log.first(name, after: a.timeNano) { $0 == "health_status: healthy" }
                    guard healthy != nil else { return false }
                    // Any action sent after the break counts: the engine may act on the first of
                    // two events (a failed probe, then the death) before Docker reports the second.
                    sent = Self.issued(
                        name, after: Double(broken) / 1e9, log: (try? String(contentsOfFile: engineLog, encoding: .utf8)) ?? "")
                    return sent != nil
                }
            } catch {
                // Say how far it got, and what the engine last logged.
                let tail = ((try? String(contentsOfFile: engineLog, encoding: .utf8)) ?? "").split(separator: "\n")
                    .filter { $0.contains("=\(name) ") }.suffix(15)
                throw BenchError(
                    "\(error)\n  Docker events: fault \(detected?.action ?? "not seen"), action \(acted?.action ?? "not seen"), "
                        + "healthy \(healthy == nil ? "not seen" : "seen"); engine log line \(sent == nil ? "not found" : "found")\n"
                        + "  engine log, last lines naming it:\n    " + tail.joined(separator: "\n    "))
            }
            let detectedAt = Double(detected!.timeNano) / 1e9
            samples.append(
                Sample(
                    detectToIssued: max(sent! - detectedAt, 0), detectToDone: Double(acted!.timeNano - detected!.timeNano) / 1e9,
                    breakToHealthy: Double(healthy!.timeNano - broken) / 1e9, issuedAt: sent!))
        }
        return samples
    }

    private func waitHealthy(_ name: String, docker: DockerClient) async throws {
        try await waitFor("\(name) to be healthy", timeout: .seconds(60)) {
            (try? await docker.inspectContainer(name).observation.isHealthy) ?? false
        }
    }
}
