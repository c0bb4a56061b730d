import AutoHealCore
import DockerAPI
import Testing

@testable import Handlers

@Suite("nova-manage and virsh output")
struct OutputParserTests {
    static let c1 = "6f1c2b7e-9a7d-4c61-a2b9-0c7a3e5d9b10"
    static let rp = "b0d9c8a7-6e5f-4a3b-9c2d-1e0f9a8b7c6d"

    @Test func auditLinesAreRead() {
        let report = PlacementAuditReport(
            parsing: """
                Allocations were set against consumer UUID \(Self.c1) but no existing instances or active migrations are related. 
                Allocations for consumer UUID \(Self.c1) on Resource Provider \(Self.rp) can be deleted: {'\(Self.rp)': {'resources': {'VCPU': 1}}}
                Processed 1 allocation.
                """)
        #expect(report.orphanedConsumers == [Self.c1])
        #expect(
            report.deletable == [
                .init(consumer: Self.c1, resourceProvider: Self.rp, allocations: "{'\(Self.rp)': {'resources': {'VCPU': 1}}}")
            ])
        #expect(report.unrecognized == ["Processed 1 allocation."])
    }

    @Test func deletedLinesAreRead() {
        let report = PlacementAuditReport(parsing: "Deleted allocations for consumer UUID \(Self.c1) on Resource Provider \(Self.rp): {}\n")
        #expect(report.deleted == [.init(consumer: Self.c1, resourceProvider: Self.rp, allocations: "{}")])
    }

    @Test(arguments: [
        "",
        "\n\n",
        "Allocations were set against consumer UUID not-a-uuid but no existing instances",
        "Allocations for consumer UUID \(c1) on Resource Provi",  // truncated
        "Deleted allocations for consumer UUID \(c1)",
        "\u{1b}[31mgarbage\u{1b}[0m ü 🙃",
    ])
    func truncatedGarbledOrEmptyOutputNamesNoOrphan(output: String) {
        let report = PlacementAuditReport(parsing: output)
        #expect(report.orphanedConsumers.isEmpty && report.deletable.isEmpty && report.deleted.isEmpty)
    }

    @Test func exitCodesHaveTheirDocumentedMeaning() {
        #expect(NovaManageExit.audit(3) == "orphaned allocations found")
        #expect(NovaManageExit.healAllocations(1) == "--max-count reached and more instances remain")
        #expect(NovaManageExit.healAllocations(7) == "could not roll back neutron port updates: manual steps needed")
        #expect(NovaManageExit.healAllocations(42) == "undocumented exit code 42")
    }

    @Test(arguments: [
        ("running (booted)\n\n", LibvirtDomainState(state: "running", reason: "booted")),
        ("paused (I/O error)", .init(state: "paused", reason: "I/O error")),
        ("shut off (destroyed)\n", .init(state: "shut off", reason: "destroyed")),
        ("pmsuspended (unknown)", .init(state: "pmsuspended", reason: "unknown")),
        ("\nin shutdown (user)\n", .init(state: "in shutdown", reason: "user")),
        ("paused", .init(state: "paused", reason: "")),
    ])
    func domstateIsRead(output: String, expected: LibvirtDomainState) {
        #expect(LibvirtDomainState(parsing: output) == expected)
    }

    @Test(arguments: ["", "error: failed to get domain 'x'", "pause", "runn"])
    func garbledDomstateIsRefused(output: String) {
        #expect(LibvirtDomainState(parsing: output) == nil)
    }

    @Test func uuidListIsReadAndGarbageRefused() {
        #expect(LibvirtDomainState.parseUUIDList("\(Self.c1)\n\n") == [Self.c1])
        #expect(LibvirtDomainState.parseUUIDList("") == [])
        #expect(LibvirtDomainState.parseUUIDList("\(Self.c1)\nerror: connection lost") == nil)
        #expect(LibvirtDomainState.parseUUIDList(String(Self.c1.prefix(20))) == nil)
    }

    static let settings = try! AutoHealConfig.parse("", path: "x").libvirt

    @Test(arguments: [
        (LibvirtDomainState(state: "pmsuspended", reason: "unknown"), LibvirtWakeDecision.Action.wake),
        (.init(state: "paused", reason: "I/O error"), .resume),
        (.init(state: "paused", reason: "unknown"), .resume),
        (.init(state: "paused", reason: "user"), .none),
        (.init(state: "paused", reason: "migrating"), .none),
        (.init(state: "paused", reason: "post-copy"), .none),
        (.init(state: "paused", reason: "saving"), .none),
        (.init(state: "paused", reason: "starting up"), .none),
        (.init(state: "paused", reason: "watchdog"), .none),
        (.init(state: "shut off", reason: "destroyed"), .none),
        (.init(state: "running", reason: "booted"), .none),
        (.init(state: "crashed", reason: "panicked"), .none),
    ])
    func wakeDecision(seen: LibvirtDomainState, expected: LibvirtWakeDecision.Action) {
        #expect(LibvirtWakeDecision.decide(seen, settings: Self.settings).action == expected)
    }

    @Test func userPausedIsResumedOnlyWhenAllowed() {
        var settings = Self.settings
        settings.resumeUserPaused = true
        #expect(LibvirtWakeDecision.decide(.init(state: "paused", reason: "user"), settings: settings).action == .resume)
    }

    @Test func execStreamIsDemultiplexed() throws {
        func frame(_ kind: UInt8, _ text: String) -> [UInt8] {
            let bytes = Array(text.utf8)
            let n = UInt32(bytes.count)
            return [kind, 0, 0, 0, UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)] + bytes
        }
        let stream = frame(1, "out1 ") + frame(2, "err") + frame(1, "out2") + frame(1, "")
        let (stdout, stderr) = try ExecStreamDemultiplexer.split(stream)
        #expect(String(decoding: stdout, as: UTF8.self) == "out1 out2")
        #expect(String(decoding: stderr, as: UTF8.self) == "err")
        #expect(throws: ExecStreamDemultiplexer.Failure.truncated(at: 0)) { try ExecStreamDemultiplexer.split(Array(stream.prefix(5))) }
        #expect(throws: ExecStreamDemultiplexer.Failure.truncated(at: 13)) { try ExecStreamDemultiplexer.split(Array(stream.prefix(20))) }
        #expect(throws: ExecStreamDemultiplexer.Failure.badStreamType(9, at: 0)) {
            try ExecStreamDemultiplexer.split([9, 0, 0, 0, 0, 0, 0, 0])
        }
        #expect(try ExecStreamDemultiplexer.split([]) == ([], []))
    }
}
