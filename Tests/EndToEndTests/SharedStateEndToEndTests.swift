import AutoHealCore
import AutoHealTestSupport
import Foundation
import Testing

/// The state engines share on the broker's stream, with the built daemons: it is complete
/// and ordered whatever its length, poison in it is ignored, and only configured targets are
/// acted on; a back-off ends with an action, not with the next sweep.
@Suite("Shared state and targets", .ownThreads, .timeLimit(.minutes(4)))
struct SharedStateEndToEndTests {
    static func read(_ url: URL) -> String { (try? String(contentsOf: url, encoding: .utf8)) ?? "" }
    static func count(_ text: String, in url: URL) -> Int { read(url).components(separatedBy: text).count - 1 }

    /// Appends a message to the vhost's state stream by hand, as a broken or older peer could.
    static func appendState(_ body: [UInt8], vhost: String) async throws {
        try await RabbitAdmin.publishRaw(
            String(decoding: body, as: UTF8.self), exchange: "amq.default", routingKey: Topology.stateQueue, vhost: vhost)
    }

    @Test func twoHundredNoticesThenAPauseIsHonouredByEveryEngineAndResumeEndsIt() async throws {
        try await TestEnvironment.requireDocker()
        try await RabbitAdmin.withVhost("notices") { vhost in
            let directory = try TestEnvironment.temporaryDirectory("autoheal-notices")
            defer { try? FileManager.default.removeItem(at: directory) }
            let container = try TestContainer(name: TestEnvironment.uniqueName("notices-nova_api"))
            defer { container.remove() }
            try await container.waitFor(health: "healthy")
            let configA = try TestConfig.write(in: directory, name: "a.conf", vhost: vhost, control: [container.name], logs: "logs-a")
            let configB = try TestConfig.write(in: directory, name: "b.conf", vhost: vhost, control: [container.name], logs: "logs-b")
            let queueA = directory.appendingPathComponent("logs-a/engine-queue.log")
            let queueB = directory.appendingPathComponent("logs-b/engine-queue.log")
            let controlB = directory.appendingPathComponent("logs-b/engine-control.log")
            let engineA = try DaemonProcess("autoheal-engine", arguments: ["--config", configA], outputDirectory: directory)
            try await waitUntil("engine A to read the shared state") { Self.read(queueA).contains("shared state read from the broker") }

            // 200 notices: 50 pause/resume cycles and 50 exclusions ended again, from several operators.
            for i in 0..<50 {
                try await Self.appendState(
                    SharedStateMessage.pause(PauseNotice(paused: true, until: nil, reason: "cycle \(i)", by: "op\(i % 3)")).encoded(),
                    vhost: vhost)
                try await Self.appendState(
                    SharedStateMessage.pause(PauseNotice(paused: false, until: nil, reason: "", by: "op\(i % 3)")).encoded(), vhost: vhost)
                let target = TargetKey(host: "10.0.0.\(i)", container: "nova_api")
                try await Self.appendState(
                    SharedStateMessage.pause(PauseNotice(paused: true, until: nil, reason: "", by: "op", target: target)).encoded(),
                    vhost: vhost)
                try await Self.appendState(
                    SharedStateMessage.pause(PauseNotice(paused: false, until: nil, reason: "", by: "op", target: target)).encoded(),
                    vhost: vhost)
            }
            try await waitUntil("engine A to read the 200 notices") { Self.count("healing resumed", in: queueA) == 50 }
            let pause = try runProgram("autoheal", ["pause", "--reason", "after 200 notices", "--config", configA])
            #expect(pause.status == 0, "\(pause.output)")
            try await waitUntil("engine A to see the new pause") { Self.count("healing paused: engines", in: queueA) == 51 }

            // An engine that starts now reads every notice from the stream's start, and ends paused.
            let engineB = try DaemonProcess("autoheal-engine", arguments: ["--config", configB], outputDirectory: directory)
            try await waitUntil("engine B to read the shared state") { Self.read(queueB).contains("shared state read from the broker") }
            #expect(Self.read(queueB).contains("healing paused: engines observe and log, and act on nothing pause=\"paused by"))
            #expect(Self.read(queueB).contains("after 200 notices"))
            let status = try runProgram("autoheal", ["status", "--config", configB])
            #expect(status.output.contains("paused: paused by") && status.output.contains("after 200 notices"), "\(status.output)")

            // A is the active consumer; it goes away and B, paused, acts on nothing.
            engineA.signal(SIGKILL)
            let monitor = try DaemonProcess("autoheal-monitor", arguments: ["--config", configB], outputDirectory: directory)
            try container.kill()
            try await waitUntil("engine B's would-be start", timeout: .seconds(60)) {
                Self.read(controlB).contains(
                    "healing paused: would start the container host=unix:///var/run/docker.sock container=\(container.name)")
            }
            #expect(try container.status == "exited")
            #expect(try runProgram("autoheal", ["resume", "--config", configB]).status == 0)
            try await container.waitFor(status: "running", timeout: .seconds(30))
            #expect(try await monitor.terminate() == 0)
            #expect(try await engineB.terminate() == 0)
        }
    }

    @Test func poisonedStateIsIgnoredWithOneWarningAndBudgetsAreKept() async throws {
        try await TestEnvironment.requireDocker()
        try await RabbitAdmin.withVhost("poison") { vhost in
            let directory = try TestEnvironment.temporaryDirectory("autoheal-poison")
            defer { try? FileManager.default.removeItem(at: directory) }
            let crasher = try TestContainer(name: TestEnvironment.uniqueName("poison-nova_api"), command: "exit 1", healthCheck: false)
            defer { crasher.remove() }
            try await crasher.waitFor(status: "exited")
            func config(_ name: String, _ logs: String) throws -> String {
                try TestConfig.write(
                    in: directory, name: name, vhost: vhost, control: [crasher.name], logs: logs, overrides: ["policy.max_attempts": "2"])
            }
            let configA = try config("a.conf", "logs-a"), configB = try config("b.conf", "logs-b")
            let queueA = directory.appendingPathComponent("logs-a/engine-queue.log")
            let controlA = directory.appendingPathComponent("logs-a/engine-control.log")
            let queueB = directory.appendingPathComponent("logs-b/engine-queue.log")
            let controlB = directory.appendingPathComponent("logs-b/engine-control.log")
            let engineA = try DaemonProcess("autoheal-engine", arguments: ["--config", configA], outputDirectory: directory)
            let monitor = try DaemonProcess("autoheal-monitor", arguments: ["--config", configA], outputDirectory: directory)
            try await waitUntil("engine A to quarantine the crasher", timeout: .seconds(60)) {
                Self.read(controlA).contains("container needs a person")
            }
            let starts = try crasher.startedAt

            // By hand: a checkpoint naming the crasher twice, and a budget dated a day ahead, both lifting the quarantine.
            let target = TargetKey(host: "unix://\(TestEnvironment.dockerSocket)", container: crasher.name)
            let clean = RestartBudget.Record(actions: [Date(timeIntervalSinceNow: -5)])
            let entry = BudgetEntry(
                key: target, record: clean, stamp: BudgetStamp(version: 1_000, by: "zz-peer", basis: 1_000_000), at: Date())
            let twice = StateCheckpoint(by: "zz-peer", at: Date(), offset: 1_000_000, pauses: [], releases: [], budgets: [entry, entry])
            try await Self.appendState(SharedStateMessage.checkpoint(twice).encoded(), vhost: vhost)
            var ahead = entry
            ahead.at = Date(timeIntervalSinceNow: 86_400)
            try await Self.appendState(SharedStateMessage.budget(ahead).encoded(), vhost: vhost)
            try await waitUntil("engine A to ignore both") { Self.count("shared state message ignored", in: queueA) == 2 }
            #expect(Self.read(queueA).contains("names the budget of \(target) twice"))
            #expect(Self.read(queueA).contains("ahead of this host's clock"))

            // An engine started now reads the poison too, keeps running, and says so once each.
            let engineB = try DaemonProcess("autoheal-engine", arguments: ["--config", configB], outputDirectory: directory)
            try await waitUntil("engine B to read the shared state") { Self.read(queueB).contains("shared state read from the broker") }
            #expect(Self.count("shared state message ignored", in: queueB) == 2)
            // Both keep the quarantine: A goes on refusing, B does when it takes over.
            let stillA = Self.count("still quarantined", in: controlA)
            try await waitUntil("engine A to refuse again") { Self.count("still quarantined", in: controlA) > stillA + 1 }
            #expect(engineA.isRunning && engineB.isRunning)
            engineA.signal(SIGKILL)
            try await waitUntil("engine B to take over and refuse too", timeout: .seconds(60)) {
                Self.count("still quarantined", in: controlB) >= 2
            }
            #expect(try crasher.startedAt == starts)
            #expect(
                Self.count("shared state message ignored", in: queueA) == 2 && Self.count("shared state message ignored", in: queueB) == 2)
            #expect(try await monitor.terminate() == 0)
            #expect(try await engineB.terminate() == 0)
        }
    }

    @Test func aRequestForATargetOutsideTheConfigIsDeadLetteredAndTouchesNothing() async throws {
        try await TestEnvironment.requireDocker()
        try await RabbitAdmin.withVhost("targets") { vhost in
            let directory = try TestEnvironment.temporaryDirectory("autoheal-targets")
            defer { try? FileManager.default.removeItem(at: directory) }
            let prefix = TestEnvironment.uniqueName("tg")
            let listed = try TestContainer(name: "\(prefix)-nova_api")
            let unlisted = try TestContainer(name: "\(prefix)-other")
            defer {
                listed.remove()
                unlisted.remove()
            }
            try listed.kill()
            try unlisted.kill()
            let config = try TestConfig.write(in: directory, vhost: vhost, control: [listed.name])
            let queueLog = directory.appendingPathComponent("logs/engine-queue.log")
            let engine = try DaemonProcess("autoheal-engine", arguments: ["--config", config], outputDirectory: directory)
            let docker = "unix://\(TestEnvironment.dockerSocket)"
            let id = try listed.inspect("{{.Id}}")
            let refused = ["\(docker)/\(unlisted.name)", "\(docker)/\(id.prefix(12))", "\(docker)/\(id)", "10.9.9.9/\(listed.name)"]
            for target in refused {
                let sent = try runProgram(
                    "autoheal", ["publish", "container_auto_heal", "--scope", "control", "--target", target, "--config", config])
                #expect(sent.status == 0, "\(sent.output)")
            }
            try await waitUntil("the four to be refused") {
                Self.count("refused message moved to the dead-letter queue", in: queueLog) == 4
            }
            let letters = try await RabbitAdmin.take(10, from: Topology.deadLetterQueue, vhost: vhost)
            #expect(letters.count == 4)
            let reasons = letters.compactMap { $0.headers[Topology.deadLetterReasonHeader] }
            #expect(
                reasons.filter { $0.contains("is not a control container of the config") && $0.contains("no Docker IDs") }.count == 3,
                "\(reasons)")
            #expect(reasons.filter { $0.contains("target host \"10.9.9.9\" is not a control host") }.count == 1, "\(reasons)")
            #expect(try unlisted.status == "exited" && listed.status == "exited")
            // The configured one, asked for by name, is healed.
            #expect(
                try runProgram(
                    "autoheal",
                    [
                        "publish", "container_auto_heal", "--scope", "control", "--target", "\(docker)/\(listed.name)",
                        "--config", config,
                    ]
                ).status == 0)
            try await listed.waitFor(status: "running", timeout: .seconds(30))
            #expect(try unlisted.status == "exited")
            #expect(try await engine.terminate() == 0)
        }
    }

    @Test func aSecondFaultInsideTheBackOffIsActedOnWhenTheBackOffEnds() async throws {
        try await TestEnvironment.requireDocker()
        try await RabbitAdmin.withVhost("backoff") { vhost in
            let directory = try TestEnvironment.temporaryDirectory("autoheal-backoff")
            defer { try? FileManager.default.removeItem(at: directory) }
            let container = try TestContainer(name: TestEnvironment.uniqueName("backoff-nova_api"), healthCheck: false)
            defer { container.remove() }
            let config = try TestConfig.write(
                in: directory, vhost: vhost, control: [container.name],
                overrides: [
                    "schedule.container_auto_heal": "60", "schedule.watch_events": "true", "policy.backoff_initial": "5",
                    "policy.max_attempts": "5",
                ])
            let control = directory.appendingPathComponent("logs/engine-control.log")
            let engine = try DaemonProcess("autoheal-engine", arguments: ["--config", config], outputDirectory: directory)
            let monitor = try DaemonProcess("autoheal-monitor", arguments: ["--config", config], outputDirectory: directory)
            try await waitUntil("the monitor to follow the events", timeout: .seconds(30)) {
                Self.read(directory.appendingPathComponent("logs/monitor.log")).contains("following Docker events")
            }
            try container.kill()
            try await waitUntil("the first start", timeout: .seconds(30)) { Self.read(control).contains("attempt=1/5") }
            try await container.waitFor(status: "running")
            try container.kill()  // inside the 5 s back-off
            try await waitUntil("the second start", timeout: .seconds(30)) { Self.read(control).contains("attempt=2/5") }
            let lines = Self.read(control).split(separator: "\n")
            let backingOff = try #require(lines.first { $0.contains("backing off before the next action") })
            let until = try #require(
                backingOff.split(separator: " ").first { $0.hasPrefix("until=") }.flatMap { Envelope.parseDate(String($0.dropFirst(6))) })
            let second = try #require(lines.first { $0.contains("revived container") && $0.contains("attempt=2/5") })
            // When the start was sent: the line's time less the call's own duration (a loaded Docker may take seconds).
            let loggedAt = try #require(Envelope.parseDate(String(second.prefix(while: { $0 != " " }))))
            let took = try #require(
                second.split(separator: " ").first { $0.hasPrefix("duration=") }.flatMap { Double($0.dropFirst(9).dropLast()) })
            let actedAt = loggedAt.addingTimeInterval(-took)
            // Acted on when the back-off ended (the sweep period is 60 s), within a second.
            #expect(
                actedAt >= until.addingTimeInterval(-0.05) && actedAt < until.addingTimeInterval(1),
                "until \(Envelope.formatDate(until)), start sent \(Envelope.formatDate(actedAt)) (\(second))")
            #expect(try await monitor.terminate() == 0)
            #expect(try await engine.terminate() == 0)
        }
    }
}
