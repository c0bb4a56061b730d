import AutoHealCore
import Testing

@testable import Handlers

/// Output captured from the real `nova-manage` 26.2.2 (Debian 12, OpenStack Zed) in the Nova lab
/// image (scripts/lab), stdout and stderr apart, with the exit code noted: the parsers read
/// what the real tool prints, not what we believe it prints.
@Suite("Output of the real nova-manage")
struct RealNovaManageOutputTests {
    static let consumer = "55c0ffc2-bde7-4d58-b219-e7f3377b931a"
    static let provider = "2443f811-e5f8-41e1-8719-7694ec44e7a1"
    static let eventletWarning = """
        Modules with known eventlet monkey patching issues were imported prior to eventlet monkey patching: urllib3. \
        This warning can usually be ignored if the caller is only importing and not executing nova code.

        """

    /// `placement audit --verbose`, exit 3.
    static let audit = """
        The compute node for UUID 2443f811-e5f8-41e1-8719-7694ec44e7a1 can not be found
        Allocations were set against consumer UUID 55c0ffc2-bde7-4d58-b219-e7f3377b931a but no existing instances or active migrations are related. 
        Allocations for consumer UUID 55c0ffc2-bde7-4d58-b219-e7f3377b931a on Resource Provider 2443f811-e5f8-41e1-8719-7694ec44e7a1 can be deleted: {'VCPU': 1, 'MEMORY_MB': 512}
        Processed 1 allocation.

        """

    /// `placement audit --delete --verbose`, exit 4.
    static let delete = """
        The compute node for UUID 2443f811-e5f8-41e1-8719-7694ec44e7a1 can not be found
        Allocations were set against consumer UUID 55c0ffc2-bde7-4d58-b219-e7f3377b931a but no existing instances or active migrations are related. 
        Deleted allocations for consumer UUID 55c0ffc2-bde7-4d58-b219-e7f3377b931a on Resource Provider 2443f811-e5f8-41e1-8719-7694ec44e7a1: {'VCPU': 1, 'MEMORY_MB': 512}
        Processed 1 allocation.

        """

    /// `placement heal_allocations --dry-run --verbose --skip-port-allocations`, exit 4.
    static let healDryRun = """
        Running batches of 50 until complete
        Looking for instances in cell: e9277d8a-3192-461d-b32c-9647993c6838(cell1)
        Found 2 candidate instances.
        The allocation of instance 27314162-354a-4fe5-9a0d-1f971aabc3d1 is up-to-date. Nothing to be healed.
        [dry-run] Create allocations for instance 9f1b1e2e-d90f-401f-80d8-4127abe9cb02: {"allocations": {"ae598936-6c31-42b1-8b2a-263590968bd8": {"resources": {"VCPU": 1, "MEMORY_MB": 512}}}, "project_id": "lab", "user_id": "lab", "consumer_generation": null}
        Processed 0 instances.

        """

    /// `placement heal_allocations --verbose --skip-port-allocations`, exit 0.
    static let heal = """
        Running batches of 50 until complete
        Looking for instances in cell: e9277d8a-3192-461d-b32c-9647993c6838(cell1)
        Found 2 candidate instances.
        The allocation of instance 27314162-354a-4fe5-9a0d-1f971aabc3d1 is up-to-date. Nothing to be healed.
        Successfully created allocations for instance 9f1b1e2e-d90f-401f-80d8-4127abe9cb02.
        Processed 1 instances.

        """

    /// `placement audit --verbose` with Placement stopped, exit 255: the traceback is on stdout.
    static let placementDown = """
        2026-11-30 10:56:44.523 385 ERROR nova.scheduler.client.report [None req-1da53edc-f155-4e0b-b229-812993f30d56 - - - - - -] Discovering suitable URL for placement API failed.: keystoneauth1.exceptions.discovery.DiscoveryFailure: Unable to find a version discovery document at http://127.0.0.1:8778, the service is unavailable or misconfigured. Required version range (any - any), version hack disabled.\u{1b}[00m
        An error has occurred:
        Traceback (most recent call last):
          File "/usr/lib/python3/dist-packages/nova/cmd/manage.py", line 3394, in main
            ret = fn(*fn_args, **fn_kwargs)
                  ^^^^^^^^^^^^^^^^^^^^^^^^^
          File "/usr/lib/python3/dist-packages/keystoneauth1/discover.py", line 1250, in _run_discovery
            raise exceptions.DiscoveryFailure(
        keystoneauth1.exceptions.discovery.DiscoveryFailure: Unable to find a version discovery document at http://127.0.0.1:8778, the service is unavailable or misconfigured. Required version range (any - any), version hack disabled.

        """

    @Test func anAuditNamesTheOrphanAndItsProvider() {
        let report = PlacementAuditReport(parsing: Self.audit)
        #expect(report.orphanedConsumers == [Self.consumer])
        #expect(
            report.deletable == [
                .init(consumer: Self.consumer, resourceProvider: Self.provider, allocations: "{'VCPU': 1, 'MEMORY_MB': 512}")
            ])
        #expect(report.deleted.isEmpty)
        #expect(
            report.unrecognized == [
                "The compute node for UUID \(Self.provider) can not be found", "Processed 1 allocation.",
            ])
    }

    @Test func aDeleteNamesWhatItDeleted() {
        let report = PlacementAuditReport(parsing: Self.delete)
        #expect(
            report.deleted == [
                .init(consumer: Self.consumer, resourceProvider: Self.provider, allocations: "{'VCPU': 1, 'MEMORY_MB': 512}")
            ])
        #expect(report.deletable.isEmpty)
    }

    @Test func healAllocationsNamesTheInstances() {
        #expect(HealAllocationsReport(parsing: Self.healDryRun).wouldCreate == ["9f1b1e2e-d90f-401f-80d8-4127abe9cb02"])
        #expect(HealAllocationsReport(parsing: Self.healDryRun).created.isEmpty)
        #expect(HealAllocationsReport(parsing: Self.heal).created == ["9f1b1e2e-d90f-401f-80d8-4127abe9cb02"])
        #expect(HealAllocationsReport(parsing: Self.heal).wouldCreate.isEmpty)
    }

    @Test func aFailureIsSummedUpByItsExceptionWhicheverStreamHasIt() {
        let summary = NovaManageExit.errorSummary(stdout: Self.placementDown, stderr: Self.eventletWarning)
        #expect(summary.hasPrefix("keystoneauth1.exceptions.discovery.DiscoveryFailure: Unable to find a version discovery document"))
        // The same on stderr, and a plain ERROR line or last line when there is no traceback.
        #expect(NovaManageExit.errorSummary(stdout: "", stderr: Self.placementDown) == summary)
        #expect(
            NovaManageExit.errorSummary(stdout: "2026 1 ERROR x [-] it broke\u{1b}[00m\n", stderr: Self.eventletWarning)
                == "2026 1 ERROR x [-] it broke")
        #expect(NovaManageExit.errorSummary(stdout: "", stderr: Self.eventletWarning + "usage: nova-manage\n") == "usage: nova-manage")
        #expect(NovaManageExit.errorSummary(stdout: "", stderr: "") == "")
    }
}
