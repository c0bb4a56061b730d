import AutoHealCore
import AutoHealTestSupport
import DockerAPI
import Foundation
import Handlers
import Journal
import Logging
import Policy
import Testing

/// `allocation_heal` against the real nova-manage and Placement of the Nova lab image
/// (scripts/lab), each test with a lab container of its own. What changed is read back from
/// Placement itself. The one exit the real tool cannot be made to give here — 1, "max count
/// reached", which needs `--max-count`, a flag the healer never passes — is covered by the
/// in-memory tests of the policy instead.
@Suite("Placement allocation heal (real nova-manage)", .ownThreads, .timeLimit(.minutes(3)))
struct PlacementAllocationHealerTests {
    struct Fixture {
        let lab: NovaLabContainer
        let healer: PlacementAllocationHealer
        let logs: LogCapture
        let journal: DecisionJournal

        func errors(_ text: String) -> [LogCapture.Event] { logs.events(.error, containing: text) }
    }

    static func fixture(
        _ name: String, vip: String = "unix:///var/run/docker.sock", timeout: Int = 60, skipPorts: Bool = true,
        container: String? = nil
    ) async throws -> Fixture {
        try await TestEnvironment.requireDocker()
        let lab = try await NovaLabContainer(name: TestEnvironment.uniqueName("pl-\(name)-nova_api"))
        let config = try AutoHealConfig.parse(
            """
            [hosts]
            VIP = \(vip)
            control_hosts = unix:///var/run/docker.sock
            docker_timeout = 5
            [placement]
            container = \(container ?? lab.name)
            command_timeout = \(timeout)
            skip_port_allocations = \(skipPorts)
            """, path: "test.conf")
        let logs = LogCapture()
        let journal = try DecisionJournal.inMemory()
        let logger = logs.logger("test.control")
        let healer = TestHealing.allocationHealer(
            config, executor: TestHealing.executor(config, journal: journal, logger: logger), logger: logger)
        return Fixture(lab: lab, healer: healer, logs: logs, journal: journal)
    }

    static let request = Envelope(payload: .allocationHeal, scope: .control)

    @Test func nothingToDoOnACleanCloud() async throws {
        let f = try await Self.fixture("clean")
        defer { f.lab.remove() }
        let outcome = await f.healer.handle(Self.request)
        #expect(outcome == HandlerOutcome(checked: 1, acted: 0, failed: 0))
        #expect(!f.logs.events(.info, containing: "no orphaned allocations").isEmpty)
        #expect(!f.logs.events(.info, containing: "no missing allocations").isEmpty)
        #expect(try f.journal.history().filter { $0.decision == .act }.isEmpty)
    }

    @Test func orphansAreDeletedInPlacementAndTheNextAuditIsClean() async throws {
        let f = try await Self.fixture("orphans")
        defer { f.lab.remove() }
        let first = try f.lab.orphan(), second = try f.lab.orphan()
        #expect(try f.lab.allocations(first.consumer) == [first.provider: ["VCPU": 1, "MEMORY_MB": 512]])

        let outcome = await f.healer.handle(Self.request)
        #expect(outcome == HandlerOutcome(checked: 1, acted: 1, failed: 0))
        // Placement holds nothing for either consumer any more.
        #expect(try f.lab.allocations(first.consumer).isEmpty && f.lab.allocations(second.consumer).isEmpty)
        let found = f.logs.events(.warning, containing: "orphaned allocation")
        #expect(Set(found.compactMap { $0.metadata["consumer"] }) == [first.consumer, second.consumer])
        #expect(found.contains { $0.metadata["resource_provider"] == first.provider })
        let deleted = f.logs.events(.notice, containing: "deleted orphaned allocation")
        #expect(Set(deleted.compactMap { $0.metadata["consumer"] }) == [first.consumer, second.consumer])
        // Journaled with their UUIDs: found by the audit, changed by the delete.
        let rows = try f.journal.history()
        for consumer in [first.consumer, second.consumer] {
            #expect(rows.contains { $0.target == "consumer:\(consumer)" && $0.decision == .found })
            #expect(rows.contains { $0.target == "consumer:\(consumer)" && $0.decision == .changed && $0.action == "audit --delete" })
        }
        #expect(rows.contains { $0.target == "delete_orphans" && $0.decision == .act && $0.result == "ok" })

        let again = await f.healer.handle(Self.request)
        #expect(again == HandlerOutcome(checked: 1, acted: 0, failed: 0))
        #expect(f.logs.events(.info, containing: "no orphaned allocations").count == 1)
    }

    @Test func missingAllocationsAreCreatedInPlacement() async throws {
        let f = try await Self.fixture("missing")
        defer { f.lab.remove() }
        let server = try f.lab.instanceWithoutAllocations()
        #expect(try f.lab.allocations(server.instance).isEmpty)

        let outcome = await f.healer.handle(Self.request)
        #expect(outcome == HandlerOutcome(checked: 1, acted: 1, failed: 0))
        #expect(try f.lab.allocations(server.instance) == [server.provider: ["VCPU": 1, "MEMORY_MB": 512]])
        #expect(f.logs.events(.warning, containing: "instance without allocations").first?.metadata["instance"] == server.instance)
        #expect(f.logs.events(.notice, containing: "created missing allocations").first?.metadata["instance"] == server.instance)
        #expect(try f.journal.history().contains { $0.target == "instance:\(server.instance)" && $0.decision == .changed })

        let again = await f.healer.handle(Self.request)
        #expect(again == HandlerOutcome(checked: 1, acted: 0, failed: 0))
        #expect(!f.logs.events(.info, containing: "no missing allocations").isEmpty)
    }

    @Test func withoutNeutronHealAllocationsNeedsSkipPortAllocations() async throws {
        let f = try await Self.fixture("neutron", skipPorts: false)
        defer { f.lab.remove() }
        let server = try f.lab.instanceWithoutAllocations()
        let outcome = await f.healer.handle(Self.request)
        #expect(outcome.failed == 1)
        let error = try #require(f.errors("nova-manage failed: unhandled exception").first)
        #expect(error.metadata["exit_code"] == "255")
        #expect(error.metadata["error"]?.contains("Unknown auth type: None") == true, "\(error.metadata)")
        #expect(try f.lab.allocations(server.instance).isEmpty)
    }

    @Test func placementStoppedIsOneErrorWithWhatNovaManageSaid() async throws {
        let f = try await Self.fixture("stopped")
        defer { f.lab.remove() }
        let orphan = try f.lab.orphan()
        try f.lab.placement("stop")
        let outcome = await f.healer.handle(Self.request)
        #expect(outcome == HandlerOutcome(checked: 1, acted: 0, failed: 1))
        let errors = f.errors("nova-manage failed")
        #expect(errors.count == 1)  // one run, one audit: not retried in a loop
        #expect(errors.first?.metadata["step"] == "audit" && errors.first?.metadata["exit_code"] == "255")
        #expect(
            errors.first?.metadata["error"]?.contains("DiscoveryFailure: Unable to find a version discovery document") == true,
            "\(errors.first?.metadata ?? [:])")
        #expect(f.logs.events(.info, containing: "ran nova-manage").count == 1)
        try f.lab.placement("start")
        #expect(try f.lab.allocations(orphan.consumer) == [orphan.provider: ["VCPU": 1, "MEMORY_MB": 512]])
    }

    @Test func placementThatNeverAnswersEndsAtTheCommandTimeout() async throws {
        let f = try await Self.fixture("hang", timeout: 3)
        defer { f.lab.remove() }
        try f.lab.placement("hang")
        let started = ContinuousClock.now
        let outcome = await f.healer.handle(Self.request)
        #expect(ContinuousClock.now - started < .seconds(30))  // the deadline is 3 s; slack for a loaded machine
        #expect(outcome.failed == 1)
        let error = try #require(f.errors("nova-manage did not complete").first)
        #expect(error.metadata["error"]?.contains("did not finish within 3") == true)
    }

    @Test func aStoppedOrMissingContainerIsReportedAndNothingRuns() async throws {
        let f = try await Self.fixture("down")
        defer { f.lab.remove() }
        try DockerCLI.run(["stop", "-t", "1", f.lab.name])
        #expect(await f.healer.handle(Self.request).failed == 1)
        #expect(!f.logs.events(.warning, containing: "is not running here").isEmpty)
        #expect(f.errors("no control host answers with a running").count == 1)

        let missing = try await Self.fixture("missing-container", container: "no-such-nova_api")
        defer { missing.lab.remove() }
        #expect(await missing.healer.handle(Self.request).failed == 1)
        #expect(missing.errors("no control host answers with a running no-such-nova_api").count == 1)
    }

    @Test func aContainerWithoutNovaManageIsAnErrorNotAHang() async throws {
        let f = try await Self.fixture("no-tool")
        defer { f.lab.remove() }
        try DockerCLI.run(["exec", f.lab.name, "mv", "/usr/bin/nova-manage", "/usr/bin/nova-manage.gone"])
        let outcome = await f.healer.handle(Self.request)
        #expect(outcome == HandlerOutcome(checked: 1, acted: 0, failed: 1))
        let error = try #require(f.errors("nova-manage failed").first)
        #expect(error.metadata["meaning"]?.contains("could not be started in the container") == true, "\(error.metadata)")
    }

    @Test func anUnreachableVIPFallsBackToTheFirstControlHostThatAnswers() async throws {
        let f = try await Self.fixture("vip", vip: "127.0.0.1:1")
        defer { f.lab.remove() }
        let orphan = try f.lab.orphan()
        let outcome = await f.healer.handle(Self.request)
        #expect(outcome.failed == 0 && outcome.acted == 1)
        #expect(!f.logs.events(.warning, containing: "host does not answer").isEmpty)
        #expect(try f.lab.allocations(orphan.consumer).isEmpty)
    }
}
