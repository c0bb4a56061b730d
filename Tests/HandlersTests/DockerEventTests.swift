import AutoHealCore
import Foundation
import Testing

@testable import DockerAPI

/// Reading Docker's event stream: lines split across chunks, real event JSON, and which
/// actions are faults.
@Suite("Docker events")
struct DockerEventTests {
    /// Lines as Docker 20.10–28 sends them (trimmed of attributes the healer does not read).
    static let unhealthy =
        #"{"status":"health_status: unhealthy","id":"4f1c","from":"autoheal/busybox:latest","Type":"container","Action":"health_status: unhealthy","Actor":{"ID":"4f1c","Attributes":{"image":"autoheal/busybox:latest","name":"nova_api"}},"scope":"local","time":1763790000,"timeNano":1763790000123456789}"#
    static let died =
        #"{"status":"die","id":"9a2b","Type":"container","Action":"die","Actor":{"ID":"9a2b","Attributes":{"exitCode":"137","name":"cinder_api"}},"scope":"local","time":1763790001,"timeNano":1763790001000000001}"#

    @Test func eventLinesSplitAcrossChunksAreReassembled() throws {
        var splitter = LineSplitter()
        let bytes = Array((Self.unhealthy + "\n" + Self.died + "\n").utf8)
        var lines: [[UInt8]] = []
        for chunk in stride(from: 0, to: bytes.count, by: 37).map({ Array(bytes[$0..<min($0 + 37, bytes.count)]) }) {
            lines += splitter.lines(in: chunk)
        }
        #expect(lines.count == 2)
        let events = try lines.map { try JSONDecoder().decode(DockerEvent.self, from: Data($0)) }
        #expect(
            events[0]
                == DockerEvent(
                    type: "container", action: "health_status: unhealthy", actorID: "4f1c",
                    attributes: ["image": "autoheal/busybox:latest", "name": "nova_api"], timeNano: 1_763_790_000_123_456_789))
        #expect(events[1].containerName == "cinder_api" && events[1].attributes["exitCode"] == "137")
        // An unfinished line waits for the rest.
        #expect(splitter.lines(in: Array("{\"Action\":".utf8)).isEmpty)
        #expect(splitter.lines(in: Array("\"x\"}\n".utf8)) == [Array("{\"Action\":\"x\"}".utf8)])
    }

    @Test func onlyUnhealthyDieOOMAndPauseAreFaults() {
        #expect(ContainerFault(action: "health_status: unhealthy", attributes: [:]) == .unhealthy)
        #expect(ContainerFault(action: "die", attributes: ["exitCode": "137"]) == .died(exitCode: 137))
        #expect(ContainerFault(action: "die", attributes: [:]) == .died(exitCode: nil))
        #expect(ContainerFault(action: "oom", attributes: [:]) == .outOfMemory)
        #expect(ContainerFault(action: "pause", attributes: [:]) == .paused)
        for action in ["health_status: healthy", "health_status: starting", "start", "exec_start: test -f /tmp/ok", "kill", "unpause"] {
            #expect(ContainerFault(action: action, attributes: [:]) == nil, "\(action)")
        }
    }

    @Test func sinceIsSecondsAndNineDigitsOfNanoseconds() {
        #expect(DockerTimestamp(nanosecondsSinceEpoch: 1_763_790_000_000_000_042).description == "1763790000.000000042")
        #expect(DockerTimestamp(nanosecondsSinceEpoch: 1_763_790_000_123_456_789).description == "1763790000.123456789")
    }

    /// Regression (issue 15): extreme times in an event line trapped on overflow
    /// (`time * 1_000_000_000`, `timeNano + 1`, the event-age subtraction) and a negative
    /// value made a negative padding count in `description`.
    @Test func extremeEventTimesAreClampedNotTrapped() throws {
        func decode(_ times: String) throws -> DockerEvent {
            let line = #"{"Type":"container","Action":"die","Actor":{"ID":"x"},"# + times + "}"
            return try JSONDecoder().decode(DockerEvent.self, from: Data(line.utf8))
        }
        #expect(try decode(#""time":9223372036854775807"#).timeNano == .max)
        #expect(try decode(#""time":-9223372036854775808"#).timeNano == 0)
        #expect(try decode(#""timeNano":-5,"time":1"#).timeNano == 0)
        #expect(try decode(#""time":1763790001"#).timeNano == 1_763_790_001_000_000_000)

        let now = DockerTimestamp(nanosecondsSinceEpoch: 1_763_790_000_000_000_000)
        #expect(DockerTimestamp.resuming(after: 1_763_789_999_000_000_000, now: now).nanosecondsSinceEpoch == 1_763_789_999_000_000_001)
        // A far-future event does not move the resume point past an hour from now.
        let capped = DockerTimestamp.resuming(after: .max, now: now)
        #expect(capped.nanosecondsSinceEpoch == now.nanosecondsSinceEpoch + 3_600_000_000_000)
        #expect(DockerTimestamp.resuming(after: 5, now: DockerTimestamp(nanosecondsSinceEpoch: .max)).nanosecondsSinceEpoch == 6)

        #expect(
            DockerTimestamp(nanosecondsSinceEpoch: .max).duration(until: DockerTimestamp(nanosecondsSinceEpoch: .min))
                == .nanoseconds(Int64.min))
        #expect(DockerTimestamp(nanosecondsSinceEpoch: 0).duration(until: now) == .seconds(1_763_790_000))

        #expect(DockerTimestamp(nanosecondsSinceEpoch: -999_999_999).description == "-0.999999999")
        #expect(DockerTimestamp(nanosecondsSinceEpoch: .min).description == "-9223372036.854775808")
        #expect(DockerTimestamp(nanosecondsSinceEpoch: .max).description == "9223372036.854775807")
    }

    /// Regression (issue 15): durations at the ends of their range formatted or converted
    /// without trapping.
    @Test func extremeDurationsSaturate() {
        #expect(Duration.seconds(Int64.max).wholeMilliseconds == .max)
        #expect(Duration.seconds(Int64.min).wholeMilliseconds == .min)
        #expect(Duration.seconds(Int64.max).nanoseconds == .max)
        #expect(Duration.seconds(Int64.min).nanoseconds == .min)
        #expect(Duration.milliseconds(-1500).logDescription == "-1.500s")
        #expect(Duration.milliseconds(1204).logDescription == "1.204s")
        #expect(Duration.seconds(Int64.max).logDescription == "9223372036854775.807s")
    }
}
