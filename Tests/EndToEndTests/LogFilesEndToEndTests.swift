import AutoHealTestSupport
import Foundation
import Testing

/// What operators' log pipelines rely on, with a running daemon: `format = json` gives one JSON
/// object a line, files are created 0640, and SIGHUP after logrotate moved a file makes a new one.
@Suite("Log files", .ownThreads, .timeLimit(.minutes(2)))
struct LogFilesEndToEndTests {
    @Test func jsonLinesAndAReopenOnSIGHUP() async throws {
        try await RabbitAdmin.withVhost("logs") { vhost in
            let directory = try TestEnvironment.temporaryDirectory("autoheal-logfiles")
            defer { try? FileManager.default.removeItem(at: directory) }
            let config = try TestConfig.write(in: directory, vhost: vhost, control: [], overrides: ["logging.format": "json"])
            let log = directory.appendingPathComponent("logs/monitor.log")
            let monitor = try DaemonProcess("autoheal-monitor", arguments: ["--config", config], outputDirectory: directory)
            func lines(_ url: URL) -> [String] {
                ((try? String(contentsOf: url, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            }
            try await waitUntil("a few lines") { lines(log).count >= 3 }
            let mode = try FileManager.default.attributesOfItem(atPath: log.path)[.posixPermissions] as? Int
            #expect(mode == 0o640)
            for line in lines(log) {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String], "\(line)")
                #expect(object["area"] == "monitor" && object["time"] != nil && object["level"] != nil && object["message"] != nil)
            }
            #expect(lines(log).contains { $0.contains("\"payload\":\"container_auto_heal\"") })

            // logrotate moves the file away and sends SIGHUP: the daemon starts a new one.
            let rotated = directory.appendingPathComponent("logs/monitor.log.1")
            try FileManager.default.moveItem(at: log, to: rotated)
            monitor.signal(SIGHUP)
            try await waitUntil("a new monitor.log after SIGHUP") { lines(log).count >= 1 }
            #expect(monitor.isRunning)
            #expect(try await monitor.terminate() == 0)
        }
    }
}
