import AutoHealCore
import DockerAPI
import Testing

/// `virsh event --loop --timestamp` lines (captured from the host's libvirt 9.0 with a TCG
/// domain) and the exec stream they arrive in.
@Suite("Libvirt events")
struct LibvirtEventTests {
    @Test func lifecycleLinesAreReadAndSuspensionsRecognised() throws {
        let lines = [
            "2026-11-30 14:14:50.806+0000: event 'lifecycle' for domain 'evtest': Resumed Unpaused",
            "2026-11-30 14:14:51.918+0000: event 'lifecycle' for domain 'evtest': Suspended Paused",
            "2026-11-30 14:14:53.531+0000: event 'lifecycle' for domain 'instance-0000000a': Suspended I/O Error",
            "2026-11-30 14:14:54.000+0000: event 'lifecycle' for domain 'odd ': name': PMSuspended Memory",
            "2026-11-30 14:14:55.518+0000: event 'lifecycle' for domain 'evtest': Shutdown Finished after host request",
            "2026-11-30 14:14:55.600+0000: event 'reboot' for domain 'evtest':",
        ]
        let events = lines.map(LibvirtEvent.init(line:))
        #expect(events.map { $0?.suspends } == [false, true, true, true, false, false])
        #expect(events[2] == LibvirtEvent(kind: "lifecycle", domain: "instance-0000000a", detail: "Suspended I/O Error"))
        #expect(events[3]?.domain == "odd ': name")
        #expect(events[5]?.kind == "reboot" && events[5]?.detail == "")
        for garbage in ["", "events received: 3", "event 'lifecycle' for domain '': Suspended", "error: failed to connect"] {
            #expect(LibvirtEvent(line: garbage) == nil, "\(garbage)")
        }
    }

    @Test func execFramesAndLinesSplitAcrossChunksAreReassembled() throws {
        func frame(_ kind: UInt8, _ text: String) -> [UInt8] {
            let body = Array(text.utf8)
            let n = UInt32(body.count)
            return [kind, 0, 0, 0, UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)] + body
        }
        let bytes = frame(1, "first line\nsecond ") + frame(2, "warning\n") + frame(1, "line\n")
        for size in [1, 3, 7, 8, 9, bytes.count] {
            var decoder = ExecLineDecoder()
            var lines: [ExecLineDecoder.Line] = []
            var i = 0
            while i < bytes.count {
                lines += try decoder.lines(in: Array(bytes[i..<min(i + size, bytes.count)]))
                i += size
            }
            #expect(lines == [.stdout("first line"), .stderr("warning"), .stdout("second line")], "chunks of \(size)")
        }
        var decoder = ExecLineDecoder()
        #expect(throws: ExecStreamDemultiplexer.Failure.badStreamType(7, at: 0)) { try decoder.lines(in: [7, 0, 0, 0, 0, 0, 0, 1, 65]) }
    }

    /// The watcher learns names → UUIDs from one `virsh list --all --uuid --name` (format read
    /// off virsh 9.0 here) and forgets a name when its domain is undefined or renamed.
    @Test func namesAndUUIDsAreListedAndForgotten() throws {
        let listing = """
            11111111-2222-3333-4444-555555555555 instance-0000000a
            AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE a name with spaces

            not-a-uuid instance-0000000b
            22222222-2222-3333-4444-555555555555
            """
        #expect(
            LibvirtEvent.parseNamesAndUUIDs(listing) == [
                "instance-0000000a": "11111111-2222-3333-4444-555555555555",
                "a name with spaces": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
            ])
        let undefined = try #require(
            LibvirtEvent(line: "2026-11-30 14:14:51.918+0000: event 'lifecycle' for domain 'instance-0000000a': Undefined Removed"))
        #expect(undefined.forgetsName && !undefined.suspends)
        let paused = try #require(
            LibvirtEvent(line: "2026-11-30 14:14:51.918+0000: event 'lifecycle' for domain 'instance-0000000a': Suspended Paused"))
        #expect(!paused.forgetsName && paused.suspends)
    }
}
