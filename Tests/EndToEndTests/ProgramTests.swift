import AutoHealTestSupport
import Foundation
import Testing

/// The programs' behaviour at the command line: config problems and the CLI.
@Suite("Programs", .ownThreads)
struct ProgramTests {
    @Test(arguments: ["autoheal-engine", "autoheal-monitor", "autoheal"])
    func missingConfigIsWrittenAsTemplateAndTheProgramExits78(program: String) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(TestEnvironment.uniqueName("autoheal-missing"))
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("auto_heal.conf").path
        let arguments = program == "autoheal" ? ["check-config", "--config", path] : ["--config", path]
        let (status, output) = try runProgram(program, arguments)
        #expect(status == 78)
        #expect(output.contains("\(path): no config file here: wrote a commented template"))
        #expect(FileManager.default.fileExists(atPath: path))
    }

    /// The daemons read their command line themselves (DaemonCommandLine), with
    /// swift-argument-parser's exit codes: help 0, a usage error 64.
    @Test(arguments: ["autoheal-engine", "autoheal-monitor"])
    func helpExits0AndAnUnknownOptionExits64(program: String) throws {
        let (helpStatus, help) = try runProgram(program, ["--help"])
        #expect(helpStatus == 0)
        #expect(help.contains("USAGE: \(program) [--config <config>]"))
        let (status, output) = try runProgram(program, ["--bogus"])
        #expect(status == 64)
        #expect(output.contains("Error: Unknown option '--bogus'"))
    }

    @Test func badValueExitsNonZeroNamingFileLineSectionAndKey() throws {
        let directory = try TestEnvironment.temporaryDirectory("autoheal-bad")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("auto_heal.conf").path
        try "[rabbitmq]\npassword = hunter2\n\n[schedule]\ncontainer_auto_heal = every minute\n".write(
            toFile: path, atomically: true, encoding: .utf8)
        let (status, output) = try runProgram("autoheal-engine", ["--config", path])
        #expect(status == 78)
        #expect(
            output.contains(
                "\(path):5: [schedule] container_auto_heal: expected whole seconds (0 turns it off) from 0 to 604800, got \"every minute\"")
        )
        #expect(!output.contains("hunter2"))
    }

    @Test func checkConfigPrintsTheEffectiveConfigWithoutSecrets() throws {
        let directory = try TestEnvironment.temporaryDirectory("autoheal-check")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("auto_heal.conf").path
        try "[rabbitmq]\nrabbitmq_addr = 10.0.0.5\npassword = hunter2\n[hosts]\ncontrol_hosts = 10.0.0.11\nVIP = 10.0.0.10\ncolour = blue\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        let (status, output) = try runProgram("autoheal", ["check-config", "--config", path])
        #expect(status == 0)
        #expect(output.contains("rabbitmq_addr = 10.0.0.5:5672"))
        #expect(output.contains("control_hosts = 10.0.0.11"))
        #expect(output.contains("password = ********"))
        #expect(output.contains("warning: \(path):7: [hosts] unknown key `colour` is ignored"))
        #expect(!output.contains("hunter2"))
    }

    @Test(arguments: ["autoheal-engine", "autoheal-monitor", "autoheal"])
    func aConfigWithAPasswordThatOthersCanReadIsRefused(program: String) throws {
        let directory = try TestEnvironment.temporaryDirectory("autoheal-open")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("auto_heal.conf").path
        try "[rabbitmq]\npassword = s3cret-open\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o644)
        let arguments = program == "autoheal" ? ["check-config", "--config", path] : ["--config", path]
        let (status, output) = try runProgram(program, arguments)
        #expect(status == 78)
        #expect(
            output.contains("\(path): holds the RabbitMQ password and is readable by group or others (mode 644): run `chmod 600 \(path)`"))
        #expect(!output.contains("s3cret-open"))
    }

    @Test func thePasswordMayComeFromAFileOrTheEnvironmentAndIsNeverShown() throws {
        let directory = try TestEnvironment.temporaryDirectory("autoheal-pwfile")
        defer { try? FileManager.default.removeItem(at: directory) }
        let secret = directory.appendingPathComponent("rabbitmq_password").path
        try "s3cret-from-file\n".write(toFile: secret, atomically: true, encoding: .utf8)
        chmod(secret, 0o600)
        let path = directory.appendingPathComponent("auto_heal.conf").path
        // No password in it: the config itself may be readable by others.
        try "[rabbitmq]\nusername = healer\npassword_file = \(secret)\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o644)
        var (status, output) = try runProgram("autoheal", ["check-config", "--config", path])
        #expect(status == 0, "\(output)")
        #expect(output.contains("# password from: password_file \(secret)"))
        #expect(!output.contains("s3cret-from-file"))

        (status, output) = try runProgram(
            "autoheal", ["check-config", "--config", path], environment: ["AUTOHEAL_RABBITMQ_PASSWORD": "s3cret-from-env"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("# password from: environment AUTOHEAL_RABBITMQ_PASSWORD"))
        #expect(!output.contains("s3cret-from-env") && !output.contains("s3cret-from-file"))

        // A password file others can read is refused like a config.
        chmod(secret, 0o640)
        (status, output) = try runProgram("autoheal", ["check-config", "--config", path])
        #expect(status == 78)
        #expect(output.contains("\(secret): is the RabbitMQ password file and is readable by group or others (mode 640)"))
        #expect(!output.contains("s3cret-from-file"))
    }
}
