import Foundation
import Logging
import Testing

@testable import AutoHealCore

@Suite("Log lines")
struct LogLineTests {
    @Test func lineIsKeyValueWithTheActionFieldsFirst() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("autoheal-log-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try #require(LogFile(path: path))
        let handler = AreaLogHandler(label: "engine.control", level: .info, outputs: [file])
        var logger = Logger(label: "engine.control", factory: { _ in handler })
        logger[metadataKey: "request"] = "r1"
        logger.notice(
            "revived container",
            metadata: [
                "duration": "1.204s", "result": "ok", "action": "restart", "seen": "running/unhealthy",
                "container": "nova_api", "host": "10.0.0.11", "reason": "running but unhealthy",
            ])
        logger.debug("not shown at info")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 1)
        let line = try #require(lines.first)
        #expect(
            line.contains(
                " NOTICE engine.control revived container host=10.0.0.11 container=nova_api seen=running/unhealthy action=restart result=ok duration=1.204s reason=\"running but unhealthy\" request=r1"
            ))
    }

    @Test func jsonLinesEscapeEverythingAndKeepTheirFourFields() throws {
        let line = AreaLogHandler.json(
            time: "2026-11-30T12:00:00.000Z", level: "notice", area: "engine.control", message: "revived \"it\"\n",
            metadata: ["host": "unix:///var/run/docker.sock", "reason": "tab\there\u{1}", "message": "clash"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(object["message"] == "revived \"it\"\n" && object["meta_message"] == "clash")
        #expect(object["reason"] == "tab\there\u{1}" && object["host"] == "unix:///var/run/docker.sock")
        #expect(object["area"] == "engine.control" && object["level"] == "notice")
        #expect(!line.contains("\n"))
    }
}
