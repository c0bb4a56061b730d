import AutoHealCore
import AutoHealTestSupport
import DockerAPI
import Foundation
import Handlers
import Logging
import Testing

/// `allocation_heal` through Docker exec, against a `nova_api` stand-in container whose
/// `nova-manage` (scripts/standins/nova-manage) prints the documented lines and exit codes:
/// Nova itself cannot run on the test machine.
@Suite("Placement allocation heal", .timeLimit(.minutes(2)))
struct PlacementAllocationHealerTests {
    struct Fixture {
        let container: String
        let healer: PlacementAllocationHealer
        let logs: LogCapture

        func calls() throws -> [String] {
            let text = (try? DockerCLI.run(["exec", container, "cat", "/tmp/nova-manage.calls"])) ?? ""
            return text.split(separator: "\n").map(String.init)
        }
    }

    static func fixture(_ scenario: String, vip: String = "unix:///var/run/docker.sock", timeout: Int = 30) async throws -> Fixture {
        try await TestEnvironment.requireDocker()
        let name = TestEnvironment.uniqueName("pl-\(scenario)-nova_api")
        _ = try? DockerCLI.run(["rm", "-f", name])
        try DockerCLI.run([
            "run", "-d", "--name", name, "--network", "none", "--label", "autoheal-test=1", "autoheal/nova-api-standin:latest",
            "sh", "-c", "echo \(scenario) > /etc/nova-scenario; trap 'exit 0' TERM; while :; do sleep 0.2; done",
        ])
        let config = try AutoHealConfig.parse("""
            [hosts]
            VIP = \(vip)
            control_hosts = unix:///var/run/docker.sock
            docker_timeout = 5
            [placement]
            container = \(name)
            command_timeout = \(timeout)
            """, path: "test.conf")
        let logs = LogCapture()
        let healer = TestHealing.allocationHealer(config, logger: logs.logger("test.control"))
        return Fixture(container: name, healer: healer, logs: logs)
    }

    static let request = Envelope(payload: .allocationHeal, scope: .control)

    @Test func nothingToDo() async throws {
        let f = try await Self.fixture("clean")
        defer { _ = try? DockerCLI.run(["rm", "-f", f.container]) }
        let outcome = await f.healer.handle(Self.request)
        #expect(outcome == HandlerOutcome(checked: 1, acted: 0, failed: 0))
        #expect(try f.calls() == ["placement audit --verbose", "placement heal_allocations --dry-run --verbose"])
        #expect(!f.logs.events(.info, containing: "no orphaned allocations").isEmpty)
    }

    @Test func orphansAreLoggedDeletedAndTheNextAuditIsClean() async throws {
        let f = try await Self.fixture("orphans")
        defer { _ = try? DockerCLI.run(["rm", "-f", f.container]) }
        let outcome = await f.healer.handle(Self.request)
        #expect(outcome == HandlerOutcome(checked: 1, acted: 2, failed: 0))
        #expect(try f.calls() == [
            "placement audit --verbose", "placement audit --delete --verbose", "placement heal_allocations --dry-run --verbose",
            "placement heal_allocations --verbose",
        ])
        let orphans = f.logs.events(.warning, containing: "orphaned allocation")
        #expect(Set(orphans.compactMap { $0.metadata["consumer"] }) == ["6f1c2b7e-9a7d-4c61-a2b9-0c7a3e5d9b10", "0e4f6a1d-3b2c-4d5e-8f90-1a2b3c4d5e6f"])
        #expect(orphans.allSatisfy { $0.metadata["resource_provider"] == "b0d9c8a7-6e5f-4a3b-9c2d-1e0f9a8b7c6d" })
        #expect(f.logs.events(.notice, containing: "deleted orphaned allocation").count == 2)
        #expect(f.logs.events(.info, containing: "ran nova-manage").allSatisfy {
            $0.metadata["host"] == "unix:///var/run/docker.sock" && $0.metadata["exit_code"] != nil && $0.metadata["duration"] != nil
        })
        // The stand-in keeps state: the next period's audit finds nothing.
        let again = await f.healer.handle(Self.request)
        #expect(again.failed == 0)
        #expect(try f.calls().suffix(2) == ["placement audit --verbose", "placement heal_allocations --dry-run --verbose"])
    }

    @Test func moreRemainingIsLeftToTheNextPeriod() async throws {
        let f = try await Self.fixture("more")
        defer { _ = try? DockerCLI.run(["rm", "-f", f.container]) }
        let outcome = await f.healer.handle(Self.request)
        #expect(outcome.failed == 0)
        #expect(!f.logs.events(.warning, containing: "more instances remain").isEmpty)
    }

    @Test func unhandledExceptionStopsWithStderrInTheLog() async throws {
        let f = try await Self.fixture("crash")
        defer { _ = try? DockerCLI.run(["rm", "-f", f.container]) }
        let outcome = await f.healer.handle(Self.request)
        #expect(outcome == HandlerOutcome(checked: 1, acted: 0, failed: 1))
        #expect(try f.calls() == ["placement audit --verbose"])  // no further step
        let error = try #require(f.logs.events(.error, containing: "nova-manage failed: unhandled exception").first)
        #expect(error.metadata["exit_code"] == "255")
        #expect(error.metadata["stderr"]?.contains("Unable to establish connection to placement") == true)
    }

    @Test func aHangingCommandIsReportedAndDoesNotBlock() async throws {
        let f = try await Self.fixture("hang", timeout: 2)
        defer { _ = try? DockerCLI.run(["rm", "-f", f.container]) }
        let started = ContinuousClock.now
        let outcome = await f.healer.handle(Self.request)
        // The stand-in sleeps an hour; the handler gives up after its 2 s deadline (slack for a loaded machine).
        #expect(ContinuousClock.now - started < .seconds(60))
        #expect(outcome.failed == 1)
        let error = try #require(f.logs.events(.error, containing: "nova-manage did not complete").first)
        #expect(error.metadata["error"]?.contains("did not finish within 2") == true)
    }

    @Test func anUnreachableVIPFallsBackToTheFirstControlHostThatAnswers() async throws {
        let f = try await Self.fixture("clean", vip: "127.0.0.1:1")
        defer { _ = try? DockerCLI.run(["rm", "-f", f.container]) }
        let outcome = await f.healer.handle(Self.request)
        #expect(outcome.failed == 0)
        #expect(!f.logs.events(.warning, containing: "host does not answer").isEmpty)
        #expect(try f.calls().count == 2)  // audit, heal --dry-run
    }
}
