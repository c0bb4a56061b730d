import AutoHealCore
import AutoHealTestSupport
import DockerAPI
import Foundation
import Handlers
import Journal
import Logging
import Policy
import Testing

/// Every handler × every guarantee of the policy, against an in-memory runtime: under a
/// pause, an exclusion, dry run, a quarantine or a back-off nothing changes and the would-be
/// action is journaled; rolling slots keep actions apart; lifting the pause lets each act.
/// The same handlers run against real Docker, libvirt and RabbitMQ in the integration and
/// end-to-end tests.
@Suite("Policy × handlers (in memory)")
struct PolicyTableTests {
    static let control = "10.0.0.11", control2 = "10.0.0.12", compute = "10.0.0.21", compute2 = "10.0.0.22"
    static let domain = "3a1b5c7d-9e2f-4a6b-8c0d-1e3f5a7b9c2d"
    static let consumer = "6f1c2b7e-9a7d-4c61-a2b9-0c7a3e5d9b10"
    static let provider = "b0d9c8a7-6e5f-4a3b-9c2d-1e0f9a8b7c6d"

    /// One handler as the table runs it.
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var payload: Payload
        var scope: Scope
        /// The hosts its runtimes stand for.
        var hosts: [String]
        /// The budget target of its (first) action on the first host.
        var target: TargetKey
        /// The container that action runs in (an exclusion may name it instead).
        var runsIn: TargetKey
        /// The changes one run makes on the first host when nothing stops it.
        var wanted: [FakeRuntime.Call]
        /// Puts the fault in place on a runtime (again).
        var setUp: @Sendable (FakeRuntime) -> Void
        /// A fresh script for one host, and how to make its fault happen again.
        var script: @Sendable () -> (FakeRuntime.Script, refault: @Sendable () -> Void)

        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "container revive", payload: .containerAutoHeal, scope: .control, hosts: [control, control2],
            target: TargetKey(host: control, container: "nova_api"), runsIn: TargetKey(host: control, container: "nova_api"),
            wanted: [.start("nova_api")],
            setUp: { $0.set("nova_api", status: "exited", health: "unhealthy", exitCode: 137) },
            script: { ({ _, _ in nil }, {}) }),
        Case(
            name: "libvirt wake-up (and the nova_compute restart)", payload: .libvirtSuspendWakeup, scope: .compute,
            hosts: [compute, compute2], target: TargetKey.domain(domain, on: compute),
            runsIn: TargetKey(host: compute, container: "nova_libvirt"),
            wanted: [.exec("nova_libvirt", ["virsh", "resume", domain]), .restart("nova_compute")],
            setUp: {
                $0.set("nova_libvirt", status: "running")
                $0.set("nova_compute", status: "running", health: "healthy")
            },
            script: Self.virsh),
        Case(
            name: "placement allocation heal", payload: .allocationHeal, scope: .control, hosts: [control],
            target: PlacementAllocationHealer.deleteTarget, runsIn: TargetKey(host: control, container: "nova_api"),
            wanted: [.exec("nova_api", ["nova-manage", "placement", "audit", "--delete", "--verbose"])],
            setUp: { $0.set("nova_api", status: "running") },
            script: Self.novaManage),
    ]

    /// A virsh with one domain paused on an I/O error until it is resumed.
    @Sendable static func virsh() -> (FakeRuntime.Script, refault: @Sendable () -> Void) {
        let paused = Locked(true)
        return (
            { _, command in
                switch Array(command.dropFirst()) {
                case ["list", "--all", "--uuid"]: return (ExecResult(exitCode: 0, stdout: domain + "\n", stderr: ""), false)
                case ["domstate", "--reason", domain]:
                    let text = paused.withLock { $0 } ? "paused (I/O error)" : "running (unpaused)"
                    return (ExecResult(exitCode: 0, stdout: text + "\n", stderr: ""), false)
                case ["resume", domain]:
                    paused.withLock { $0 = false }
                    return (ExecResult(exitCode: 0, stdout: "Domain '\(domain)' resumed\n", stderr: ""), true)
                default: return nil
                }
            }, { paused.withLock { $0 = true } }
        )
    }

    /// A nova-manage with one orphaned allocation until it is deleted, and nothing to heal.
    @Sendable static func novaManage() -> (FakeRuntime.Script, refault: @Sendable () -> Void) {
        let orphaned = Locked(true)
        return (
            { _, command in
                switch Array(command.dropFirst(2)) {
                case ["audit", "--verbose"]:
                    guard orphaned.withLock({ $0 }) else { return (ExecResult(exitCode: 0, stdout: "", stderr: ""), false) }
                    return (
                        ExecResult(
                            exitCode: 3,
                            stdout: """
                                Allocations were set against consumer UUID \(consumer) but no existing instances or active migrations are related.
                                Allocations for consumer UUID \(consumer) on Resource Provider \(provider) can be deleted: {'VCPU': 1, 'MEMORY_MB': 512}
                                Processed 1 allocation.
                                """, stderr: ""), false
                    )
                case ["audit", "--delete", "--verbose"]:
                    orphaned.withLock { $0 = false }
                    return (
                        ExecResult(
                            exitCode: 4,
                            stdout: """
                                Deleted allocations for consumer UUID \(consumer) on Resource Provider \(provider): {'VCPU': 1, 'MEMORY_MB': 512}
                                """, stderr: ""), true
                    )
                case ["heal_allocations", "--dry-run", "--verbose"]:
                    return (ExecResult(exitCode: 4, stdout: "Processed 0 instances.\n", stderr: ""), false)
                default: return nil
                }
            }, { orphaned.withLock { $0 = true } }
        )
    }

    /// One handler over fake runtimes, with its executor, journal, notifications and requeues.
    final class Harness: Sendable {
        let runtimes: FakeRuntimes
        let executor: PolicyExecutor
        let handler: any PayloadHandler
        let journal: DecisionJournal
        let notifier = RecordingNotifier()
        let requeuer = RecordingRequeuer()
        let logs = LogCapture()
        let meter = ConcurrencyMeter()
        let testCase: Case
        private let refaults: [@Sendable () -> Void]
        private let offset = Locked<Int64>(0)

        /// - Parameter runtime: makes a host's runtime (default: a plain ``FakeRuntime``).
        init(
            _ testCase: Case, policy: [String: String] = [:],
            runtime: @escaping (_ host: String, _ meter: ConcurrencyMeter, _ script: @escaping FakeRuntime.Script) -> FakeRuntime =
                { FakeRuntime(host: $0, meter: $1, script: $2) }
        ) throws {
            self.testCase = testCase
            let keys = ["grace_after_start": "0", "backoff_initial": "60", "max_attempts": "3"].merging(policy) { $1 }
            let config = try AutoHealConfig.parse(
                """
                [hosts]
                control_hosts = \(testCase.scope == .control ? testCase.hosts.joined(separator: ", ") : PolicyTableTests.control)
                compute_hosts = \(testCase.scope == .compute ? testCase.hosts.joined(separator: ", ") : "")
                [containers]
                control = nova_api
                compute = nova_compute
                [policy]
                \(keys.map { "\($0.key) = \($0.value)" }.joined(separator: "\n"))
                """, path: "table.conf")
            var refaults: [@Sendable () -> Void] = []
            let meter = self.meter
            runtimes = FakeRuntimes(
                testCase.hosts.map { host in
                    let (script, refault) = testCase.script()
                    refaults.append(refault)
                    let runtime = runtime(host, meter, script)
                    testCase.setUp(runtime)
                    return runtime
                })
            self.refaults = refaults
            journal = try DecisionJournal.inMemory()
            let logger = logs.logger("test.table")
            executor = TestHealing.executor(
                config, runtimes: runtimes, journal: journal, notifier: notifier, requeuer: requeuer, logger: logger)
            switch testCase.payload {
            case .containerAutoHeal: handler = TestHealing.reviver(config, executor: executor, runtimes: runtimes, logger: logger)
            case .libvirtSuspendWakeup: handler = TestHealing.waker(config, executor: executor, runtimes: runtimes, logger: logger)
            case .allocationHeal: handler = TestHealing.allocationHealer(config, executor: executor, runtimes: runtimes, logger: logger)
            case .computeHostFailure: throw TestSetupError("compute_host_failure needs Nova: see ComputeHostHealerTests")
            }
        }

        var first: FakeRuntime { runtimes.hosts[testCase.hosts[0]]! }

        /// The fault happens again on every host.
        func refault() {
            for runtime in runtimes.hosts.values { testCase.setUp(runtime) }
            for refault in refaults { refault() }
        }

        func run() async -> HandlerOutcome { await handler.handle(Envelope(payload: testCase.payload, scope: testCase.scope)) }

        /// Applies a message as the next one on the state stream.
        func stream(_ message: SharedStateMessage) async {
            let next = offset.withLock { o -> Int64 in
                o += 1
                return o
            }
            await executor.apply(message.encoded(), offset: next)
        }

        func pause(_ paused: Bool, target: TargetKey? = nil) async {
            await stream(.pause(PauseNotice(paused: paused, until: nil, reason: "table", by: "test", target: target)))
        }

        /// The case's budget target on every host (placement's is one for the cloud).
        var targets: [TargetKey] {
            let t = testCase.target
            guard t.host == testCase.hosts[0] else { return [t] }
            return testCase.hosts.map { TargetKey(host: $0, container: t.container) }
        }

        /// Gives every target of the case this budget record.
        func restore(_ record: RestartBudget.Record) async {
            await executor.restore(
                targets.map { BudgetEntry(key: $0, record: record, stamp: .init(version: 1, by: "x", basis: -1), at: Date()) })
        }

        func decisions(_ decision: JournalDecision) throws -> [JournalEntry] {
            try journal.history().filter { $0.decision == decision }
        }
    }

    @Test("acts when nothing stops it", arguments: cases)
    func actsWhenNothingStopsIt(_ testCase: Case) async throws {
        let h = try Harness(testCase)
        let outcome = await h.run()
        for host in testCase.hosts { #expect(h.runtimes.hosts[host]!.changes == testCase.wanted, "\(host)") }
        #expect(outcome.acted == testCase.wanted.count * testCase.hosts.count)
        #expect(try h.decisions(.act).map(\.result) == Array(repeating: "ok", count: testCase.wanted.count * testCase.hosts.count))
    }

    @Test("a maintenance pause stops it, resume lets it act", arguments: cases)
    func pause(_ testCase: Case) async throws {
        let h = try Harness(testCase)
        await h.pause(true)
        let outcome = await h.run()
        #expect(h.runtimes.changes.isEmpty)
        #expect(outcome.acted == 0)
        let paused = try h.decisions(.paused)
        #expect(paused.contains { $0.target == testCase.target.container && $0.reason.contains("paused by test") })
        #expect(h.logs.events(.notice, containing: "healing paused: would").count >= 1)
        await h.pause(false)
        _ = await h.run()
        #expect(h.first.changes == testCase.wanted)
    }

    @Test("an exclusion of the target, or of the container it runs in, stops it", arguments: cases)
    func exclusion(_ testCase: Case) async throws {
        for excluded in Set([testCase.target, testCase.runsIn]) {
            let h = try Harness(testCase)
            await h.pause(true, target: excluded)
            _ = await h.run()
            #expect(h.first.changes.isEmpty, "excluded \(excluded)")
            #expect(try h.decisions(.paused).contains { $0.reason.contains("\(excluded) excluded") })
            await h.pause(false, target: excluded)
            _ = await h.run()
            #expect(h.first.changes == testCase.wanted, "included \(excluded) again")
        }
    }

    @Test("dry run changes nothing and journals what it would do", arguments: cases)
    func dryRun(_ testCase: Case) async throws {
        let h = try Harness(testCase, policy: ["dry_run": "true"])
        _ = await h.run()
        #expect(h.runtimes.changes.isEmpty)
        #expect(try h.decisions(.dryRun).contains { $0.target == testCase.target.container })
        #expect(h.logs.events(.notice, containing: "dry run: would").count >= 1)
    }

    @Test("a quarantined target is left to a person, reported once", arguments: cases)
    func quarantine(_ testCase: Case) async throws {
        let h = try Harness(testCase)
        await h.restore(RestartBudget.Record(actions: [Date(timeIntervalSinceNow: -300)], quarantined: true))
        _ = await h.run()
        _ = await h.run()
        #expect(h.runtimes.changes.isEmpty)
        #expect(try h.decisions(.quarantined).count == 2 * h.targets.count)
        #expect(h.logs.events(.warning, containing: "still quarantined").count == 2 * h.targets.count)  // reported by its writer
        #expect(h.notifier.all.isEmpty)
        // A quarantine this engine reaches itself is reported once, with a notification.
        let fresh = try Harness(testCase, policy: ["max_attempts": "1", "backoff_initial": "0"])
        _ = await fresh.run()
        #expect(fresh.first.changes == testCase.wanted)
        fresh.refault()
        _ = await fresh.run()
        _ = await fresh.run()
        #expect(fresh.first.changes == testCase.wanted)  // no second action
        #expect(fresh.logs.events(.error, containing: "needs a person").count == fresh.targets.count)
        #expect(fresh.notifier.all.count == fresh.targets.count)
        #expect(fresh.notifier.all.contains { $0.contains("gave up on \(testCase.target)") })
    }

    @Test("a target backing off is not acted on, and is looked at again when its delay ends", arguments: cases)
    func backOff(_ testCase: Case) async throws {
        let h = try Harness(testCase)
        await h.restore(RestartBudget.Record(actions: [Date(timeIntervalSinceNow: -1)]))
        let asked = ContinuousClock.now
        _ = await h.run()
        #expect(h.runtimes.changes.isEmpty)
        #expect(try h.decisions(.backingOff).contains { $0.target == testCase.target.container })
        let requeue = try #require(h.requeuer.all.first { $0.request.target == testCase.target || testCase.payload == .allocationHeal })
        // Due when the 60 s back-off after the action a second ago ends.
        #expect(abs(((requeue.at - asked) - .seconds(59)).timeInterval) < 1)
        #expect(requeue.request.payload == testCase.payload)
        if testCase.payload != .allocationHeal { #expect(requeue.request.target == testCase.target) }
    }

    @Test("rolling: at most max_parallel_actions actions at once", arguments: cases)
    func rolling(_ testCase: Case) async throws {
        let h = try Harness(testCase, policy: ["max_parallel_actions": "1", "max_parallel_per_service": "5"])
        // Two requests at once (a sweep of every host and a second one of the same payload).
        async let a = h.run()
        async let b = h.handler.handle(Envelope(payload: testCase.payload, scope: testCase.scope))
        _ = await (a, b)
        // Every host got its actions, one at a time across all hosts.
        for host in testCase.hosts { #expect(h.runtimes.hosts[host]!.changes == testCase.wanted, "\(host)") }
        #expect(h.meter.most == 1)
    }

    @Test("rolling: one host at a time per service while the first is not healthy again")
    func rollingPerService() async throws {
        let h = try Harness(Self.cases[0], policy: ["max_parallel_per_service": "1", "max_parallel_actions": "10"])
        _ = await h.run()
        #expect(h.meter.most == 1)
        #expect(h.runtimes.changes.count == 2)
    }

    @Test("rolling: a host whose inspect is slower than the first host's whole action waits for it, then holds")
    func rollingSlowInspect() async throws {
        // The first host's start does not help; the second host's inspect answers after the
        // first host's action is done, when nobody was waiting for the slot any more.
        let h = try Harness(
            Self.cases[0], policy: ["max_parallel_per_service": "1", "rolling_wait": "1"],
            runtime: { host, meter, script in
                FakeRuntime(
                    host: host, inspectTime: host == Self.control2 ? .milliseconds(300) : .zero, actionHelps: false, meter: meter,
                    script: script)
            })
        _ = await h.run()
        #expect(h.runtimes.hosts[Self.control]!.changes == [.start("nova_api")])
        #expect(h.runtimes.hosts[Self.control2]!.changes.isEmpty, "the second host acted while the first was unhealthy")
        #expect(try h.decisions(.held).contains { $0.host == Self.control && $0.reason.contains("rolling_wait") })
        #expect(h.notifier.all.contains { $0.contains("stopped rolling actions on nova_api") })
    }

    @Test("a burst of allocation_heal requests costs one run and one more, not one each")
    func allocationHealBurst() async throws {
        let config = try AutoHealConfig.parse(
            "[hosts]\ncontrol_hosts = \(Self.control)\n[policy]\ngrace_after_start = 0\n", path: "burst.conf")
        let (script, _) = Self.novaManage()
        // The delete takes a second, so the other requests arrive while the first run is in flight.
        let runtime = FakeRuntime(host: Self.control, actionTime: .seconds(1), script: script)
        runtime.set("nova_api", status: "running")
        let runtimes = FakeRuntimes([runtime])
        let logs = LogCapture()
        let logger = logs.logger("test.burst")
        let healer = TestHealing.allocationHealer(
            config, executor: TestHealing.executor(config, runtimes: runtimes, logger: logger), runtimes: runtimes,
            logger: logger)
        let outcomes = await withTaskGroup(of: HandlerOutcome.self) { group in
            for _ in 0..<10 { group.addTask { await healer.handle(Envelope(payload: .allocationHeal, scope: .control)) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        // Every request was answered; the first run deleted the orphan, one more run (for the
        // requests that came while it ran) found nothing, the other eight were covered by it.
        #expect(outcomes.count == 10)
        let audits = runtime.calls.filter { $0 == .exec("nova_api", ["nova-manage", "placement", "audit", "--verbose"]) }
        #expect(audits.count == 2, "\(runtime.calls)")
        #expect(runtime.changes == [.exec("nova_api", ["nova-manage", "placement", "audit", "--delete", "--verbose"])])
        #expect(outcomes.filter { $0 == HandlerOutcome() }.count == 8)
        #expect(logs.events(.info, containing: "covered by an allocation heal run").count == 8)
    }
}
