import AutoHealCore
import AutoHealTestSupport
import Foundation
import Handlers
import Journal
import Logging
import NovaAPI
import Policy
import Testing

/// The host-failure handler against an in-memory Nova, Docker and fence: what it confirms,
/// and that every fence, force-down and evacuation passes the policy. The same runs against the
/// real Nova of the lab in the end-to-end tests.
@Suite("Compute host failure (in memory)")
struct ComputeHostHealerTests {
    final class Cloud: Sendable {
        let nova = FakeNova(hosts: ["compute-1", "compute-2"])
        let docker = FakeRuntimes([FakeRuntime(host: "compute-1"), FakeRuntime(host: "compute-2")])
        let fence: RecordingFence
        let notifier = RecordingNotifier()
        let journal: DecisionJournal
        let logs = LogCapture()
        let healer: ComputeHostHealer
        let executor: PolicyExecutor

        init(fence: String? = "/bin/true", fenceExit: Int32 = 0, extra: [String: String] = [:], policy: [String: String] = [:]) throws {
            self.fence = RecordingFence(exitCode: fenceExit)
            var failure = ["host_down_after": "0", "max_hosts_down": "1", "max_hosts_down_percent": "50"]
            if let fence { failure["fence"] = fence }
            failure.merge(extra) { $1 }
            let config = try AutoHealConfig.parse(
                """
                [hosts]
                control_hosts = 10.0.0.11
                compute_hosts = compute-1=10.0.1.21, compute-2=10.0.1.22
                [nova]
                auth = token
                endpoint = http://127.0.0.1:1/v2.1
                [host_failure]
                \(failure.map { "\($0.key) = \($0.value)" }.joined(separator: "\n"))
                [policy]
                \(policy.map { "\($0.key) = \($0.value)" }.joined(separator: "\n"))
                """, path: "hosts.conf")
            journal = try DecisionJournal.inMemory()
            let logger = logs.logger("test.compute")
            executor = PolicyExecutor(
                config: config, runtimes: docker, nova: nova, fencer: self.fence, identity: "test", journal: journal, notifier: notifier,
                readsSharedState: false, logger: logger)
            healer = ComputeHostHealer(
                config: config, observer: Observer(config: config, runtimes: docker, nova: nova), executor: executor, logger: logger)
        }

        /// The host stops answering on the Docker side, the Nova side, or both.
        func fail(_ host: String, docker dockerDown: Bool = true, nova novaDown: Bool = true) {
            docker.hosts[host]!.reachable.withLock { $0 = !dockerDown }
            nova.setUp(host, !novaDown)
        }

        func run() async -> HandlerOutcome { await healer.handle(Envelope(payload: .computeHostFailure, scope: .compute)) }
        func decisions(_ d: JournalDecision) throws -> [JournalEntry] { try journal.history().filter { $0.decision == d } }
    }

    @Test func aHostDownOnBothSidesIsFencedForcedDownAndEvacuated() async throws {
        let c = try Cloud()
        let moving = c.nova.addServer(on: "compute-1")
        let staying = c.nova.addServer(on: "compute-1", metadata: ["autoheal_evacuate": "false"])
        c.fence_and_fail()
        let outcome = await c.run()
        #expect(c.fence.all == [["/bin/true", "compute-1"]])
        #expect(c.nova.calls == ["force_down compute-1", "evacuate \(moving)"])
        #expect(c.nova.host(of: moving) == "compute-2" && c.nova.host(of: staying) == "compute-1")
        #expect(outcome.acted == 1 && outcome.skipped == 1)
        let acts = try c.decisions(.act)
        #expect(Set(acts.map(\.action)) == ["fence", "force_down", "evacuate"] && acts.allSatisfy { $0.result == "ok" })
        #expect(try c.decisions(.changed).contains { $0.target == "server:\(moving)" && $0.reason == "ACTIVE on compute-2" })
        #expect(try c.decisions(.leftAlone).contains { $0.target == "server:\(staying)" })
        #expect(c.notifier.all.count == 1 && c.notifier.all[0].contains("evacuated compute host compute-1"))
        // The next run does not do it again.
        _ = await c.run()
        #expect(c.fence.all.count == 1 && c.nova.calls.count == 2)
    }

    @Test(arguments: [(true, false), (false, true)])
    func oneSideAloneIsAWarningNeverAnEvacuation(dockerDown: Bool, novaDown: Bool) async throws {
        let c = try Cloud()
        c.nova.addServer(on: "compute-1")
        c.fail("compute-1", docker: dockerDown, nova: novaDown)
        _ = await c.run()
        _ = await c.run()
        #expect(c.fence.all.isEmpty && c.nova.calls.isEmpty)
        #expect(c.logs.events(.warning, containing: "one side only says this compute host is down").count == 2)
        #expect(c.notifier.all.count == 1 && c.notifier.all[0].contains("nothing is evacuated"))
    }

    @Test func moreHostsDownThanTheLimitIsTakenForAPartition() async throws {
        let c = try Cloud()
        c.nova.addServer(on: "compute-1")
        c.fail("compute-1")
        c.fail("compute-2")
        _ = await c.run()
        _ = await c.run()
        #expect(c.fence.all.isEmpty && c.nova.calls.isEmpty)
        #expect(c.logs.events(.error, containing: "this healer may be the one cut off").count == 2)
        #expect(c.notifier.all.count == 1 && c.notifier.all[0].contains("may be cut off itself"))
    }

    @Test func aFailedFenceStopsTheEvacuation() async throws {
        let c = try Cloud(fenceExit: 1)
        c.nova.addServer(on: "compute-1")
        c.fail("compute-1")
        _ = await c.run()
        #expect(c.fence.all.count == 1 && c.nova.calls.isEmpty)
        #expect(c.logs.events(.error, containing: "fence failed: not evacuating").count == 1)
        #expect(c.notifier.all.contains { $0.contains("could not fence compute host compute-1") })
        #expect(try c.decisions(.act).contains { $0.action == "fence" && $0.result == "failed" })
    }

    @Test func noFenceConfiguredMeansNoEvacuationAndFenceNoneIsAChoice() async throws {
        let unset = try Cloud(fence: nil)
        unset.nova.addServer(on: "compute-1")
        unset.fail("compute-1")
        _ = await unset.run()
        _ = await unset.run()
        #expect(unset.nova.calls.isEmpty)
        #expect(unset.logs.events(.error, containing: "no fence configured").count == 2)
        #expect(unset.notifier.all.count == 1 && unset.notifier.all[0].contains("no fence is configured"))

        let none = try Cloud(fence: "none")
        let server = none.nova.addServer(on: "compute-1")
        none.fail("compute-1")
        _ = await none.run()
        #expect(none.fence.all.isEmpty)
        #expect(none.nova.calls == ["force_down compute-1", "evacuate \(server)"])
    }

    @Test(arguments: ["pause", "dry_run"])
    func pauseAndDryRunDoNothing(_ mode: String) async throws {
        let c = try Cloud(policy: mode == "dry_run" ? ["dry_run": "true"] : [:])
        if mode == "pause" {
            await c.executor.apply(
                SharedStateMessage.pause(PauseNotice(paused: true, until: nil, reason: "upgrade", by: "op")).encoded(), offset: 0)
        }
        c.nova.addServer(on: "compute-1")
        c.fail("compute-1")
        _ = await c.run()
        #expect(c.fence.all.isEmpty && c.nova.calls.isEmpty)
        #expect(try c.decisions(mode == "pause" ? .paused : .dryRun).contains { $0.action == "fence" && $0.target == "fence" })
        #expect(
            c.logs.events(.notice, containing: mode == "pause" ? "healing paused: would fence the host" : "dry run: would fence the host")
                .count == 1)
    }

    @Test func anExclusionAQuarantineOrABackOffOfTheFenceStopsTheEvacuation() async throws {
        // autoheal pause --target compute-1/host: every action on that host.
        let excluded = try Cloud()
        await excluded.executor.apply(
            SharedStateMessage.pause(
                PauseNotice(
                    paused: true, until: nil, reason: "", by: "op", target: TargetKey(host: "compute-1", container: "host"))
            ).encoded(), offset: 0)
        excluded.nova.addServer(on: "compute-1")
        excluded.fail("compute-1")
        _ = await excluded.run()
        #expect(excluded.fence.all.isEmpty && excluded.nova.calls.isEmpty)
        #expect(try excluded.decisions(.paused).contains { $0.reason.contains("compute-1/host excluded") })

        for record in [RestartBudget.Record(actions: [Date()], quarantined: true), RestartBudget.Record(actions: [Date()])] {
            let c = try Cloud(policy: ["backoff_initial": "60"])
            await c.executor.restore([
                BudgetEntry(
                    key: TargetKey(host: "compute-1", container: "fence"), record: record, stamp: .init(version: 1, by: "x", basis: -1),
                    at: Date())
            ])
            c.nova.addServer(on: "compute-1")
            c.fail("compute-1")
            _ = await c.run()
            #expect(c.fence.all.isEmpty && c.nova.calls.isEmpty)
            #expect(try c.decisions(record.quarantined ? .quarantined : .backingOff).contains { $0.target == "fence" })
        }
    }

    @Test func aHostThatAnswersAgainIsReportedAndKeepsForcedDownUnlessConfigured() async throws {
        for unset in [false, true] {
            let c = try Cloud(extra: ["unset_forced_down": "\(unset)"])
            c.nova.addServer(on: "compute-1")
            c.fail("compute-1")
            _ = await c.run()
            #expect(c.nova.service("compute-1")?.forcedDown == true)
            c.docker.hosts["compute-1"]!.reachable.withLock { $0 = true }
            c.nova.setUp("compute-1", true)
            _ = await c.run()
            #expect(c.nova.service("compute-1")?.forcedDown == !unset, "unset_forced_down = \(unset)")
            #expect(c.notifier.all.last?.contains("compute host compute-1 answers again") == true)
        }
    }
}

extension ComputeHostHealerTests.Cloud {
    /// compute-1 fails on both sides.
    func fence_and_fail() { fail("compute-1") }
}
