import Testing

@testable import AutoHealCore

@Suite("Daemon command line")
struct DaemonCommandLineTests {
    @Test func readsTheConfigOptionBothWays() {
        #expect(DaemonCommandLine.parse([]) == .run(DaemonCommandLine(config: nil)))
        #expect(DaemonCommandLine.parse(["--config", "/etc/x.conf"]) == .run(DaemonCommandLine(config: "/etc/x.conf")))
        #expect(DaemonCommandLine.parse(["--config=/etc/y.conf"]) == .run(DaemonCommandLine(config: "/etc/y.conf")))
        #expect(DaemonCommandLine.parse(["--config", "a", "--config", "b"]) == .run(DaemonCommandLine(config: "b")))
    }

    @Test func helpWinsAndNamesTheOption() {
        #expect(DaemonCommandLine.parse(["--help"]) == .help)
        #expect(DaemonCommandLine.parse(["--config", "x", "-h"]) == .help)
        let text = DaemonCommandLine.help(program: "autoheal-engine", abstract: "Heal.")
        #expect(text.hasPrefix("OVERVIEW: Heal.\n\nUSAGE: autoheal-engine [--config <config>]\n"))
        #expect(text.contains("--config <config>") && text.contains("/etc/auto_heal.conf"))
    }

    @Test func anythingElseIsAUsageErrorNamingIt() {
        #expect(DaemonCommandLine.parse(["--verbose"]) == .usageError("Unknown option '--verbose'"))
        #expect(DaemonCommandLine.parse(["/etc/auto_heal.conf"]) == .usageError("Unknown option '/etc/auto_heal.conf'"))
        #expect(DaemonCommandLine.parse(["--config"]) == .usageError("Missing value for '--config <config>'"))
        #expect(DaemonCommandLine.parse(["--config", "--help"]) == .usageError("Missing value for '--config <config>'"))
        #expect(DaemonCommandLine.parse(["--config="]) == .usageError("Missing value for '--config <config>'"))
    }
}
