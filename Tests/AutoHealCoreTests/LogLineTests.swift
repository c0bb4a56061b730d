import Foundation
import Logging
import Testing

@testable import AutoHealCore

@Suite("Log lines")
struct LogLineTests {
    @Test func lineIsKeyValueWithTheActionFieldsFirst() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("autoheal-log-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try LogFile(path: path)
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

    /// Issue 15: a log file that cannot be opened is an ERROR on standard output, once, and the
    /// area goes on logging there; when it can be opened again it is used.
    @Test func aLogFileThatCannotBeOpenedIsAnErrorOnTheConsole() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autoheal-logs-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A directory where engine.log should be: open(2) fails with EISDIR, even for root.
        try FileManager.default.createDirectory(atPath: directory + "/engine.log", withIntermediateDirectories: true)
        let consolePath = directory + "/console.out"
        let console = try LogFile(path: consolePath)
        for format in AreaLogHandler.Format.allCases {
            let files = LogFiles(directory: directory, console: console, format: format)
            #expect(files.file(forArea: "engine") == nil)
            #expect(files.file(forArea: "engine") == nil)
            #expect(files.file(forArea: "monitor") != nil, "another area still gets its file")
        }
        let lines = try String(contentsOfFile: consolePath, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2, "one error per failing file and format, not one per logger: \(lines)")
        #expect(lines[0].contains(" ERROR logging cannot open log file; this area logs to standard output only"))
        #expect(lines[0].contains("file=\(directory)/engine.log") && lines[0].contains("error=\"Is a directory\""))
        #expect(lines[1].contains(#""level":"error""#) && lines[1].contains(#""error":"Is a directory""#))
        // Fixed: the next logger of the area gets the file.
        try FileManager.default.removeItem(atPath: directory + "/engine.log")
        let files = LogFiles(directory: directory, console: console, format: .text)
        #expect(files.file(forArea: "engine") != nil)
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

    /// Issue 15: a value from outside (a container name, a command's output, a message body)
    /// cannot end the line, forge another one, drive a terminal, or flood the log.
    @Test func controlCharactersAreEscapedAndLongValuesCut() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("autoheal-log-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try LogFile(path: path)
        let handler = AreaLogHandler(label: "engine.control", level: .info, outputs: [file])
        let logger = Logger(label: "engine.control", factory: { _ in handler })
        let forged = "ok\r2026-11-30T00:00:00.000Z ERROR engine.control forged\nline \u{1b}[31mred\u{7f}\u{85}\u{2028}"
        logger.warning(
            "odd \(forged)",
            metadata: ["output": "\(forged)", "body": "\(String(repeating: "x", count: 100_000))", "path": "C:\\dir"])
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.split(separator: "\n", omittingEmptySubsequences: false).count == 2, "one line and the final newline")
        #expect(!text.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
        #expect(!text.unicodeScalars.contains { (0x7F...0x9F).contains($0.value) || $0.value == 0x2028 })
        #expect(text.contains(#"odd ok\r2026-11-30T00:00:00.000Z ERROR engine.control forged\nline \u{1b}[31mred\u{7f}\u{85}\u{2028}"#))
        #expect(text.contains(#"output="ok\r2026"#))
        #expect(text.contains(#"path="C:\\dir""#))
        #expect(text.contains("x…[97952 more bytes]"))
        #expect(text.utf8.count < 8000)
        let json = AreaLogHandler.json(
            time: "t", level: "warning", area: "a", message: "m", metadata: ["body": "\(String(repeating: "y", count: 5000))\u{85}"])
        #expect(json.contains("…[2954 more bytes]") && !json.unicodeScalars.contains { $0.value == 0x85 })
    }
}
