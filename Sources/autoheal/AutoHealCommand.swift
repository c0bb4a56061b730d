import ArgumentParser
import AutoHealCore
import Foundation
import Logging
import Messaging

/// autoheal: the operator's tool.
@main
struct AutoHealCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autoheal",
        abstract: "Operate Cloud Auto Heal: check the config, send a payload now.",
        subcommands: [CheckConfig.self, Publish.self])
}

struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "Config file (default /etc/auto_heal.conf).")
    var config: String?
}

/// `autoheal check-config`: validates the config and prints it, secrets masked.
struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate the config and print the effective values (secrets masked).")

    @OptionGroup var options: ConfigOption

    func run() async throws {
        let config = ProgramSupport.loadConfigOrExit(options.config)
        for warning in config.warnings { LogFile.standardError.write(line: "warning: \(warning)") }
        print(config.renderedForDisplay(), terminator: "")
        LogFile.standardError.write(line: "config OK: \(config.path)")
    }
}

/// `autoheal publish PAYLOAD [--scope S] [--target HOST/CONTAINER]`: sends one request now.
struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send one payload now, to every scope it belongs to or to one.",
        discussion: "Payloads: \(Payload.allCases.map(\.rawValue).joined(separator: ", ")).")

    @OptionGroup var options: ConfigOption

    @Argument(help: "The payload to send.")
    var payload: String

    @Option(help: "Only this scope: control or compute.")
    var scope: String?

    @Option(help: "Only this container on this host, as HOST/CONTAINER (needs --scope).")
    var target: String?

    @Option(help: "Seconds to wait for the broker's confirm.")
    var timeout: Int = 15

    func run() async throws {
        guard let payload = Payload(rawValue: payload) else {
            throw ValidationError("unknown payload \"\(self.payload)\"; expected one of \(Payload.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var scopes = payload.scopes
        if let scope {
            guard let s = Scope(rawValue: scope) else { throw ValidationError("--scope must be control or compute") }
            guard payload.scopes.contains(s) else { throw ValidationError("\(payload.rawValue) is not a \(s.rawValue) payload") }
            scopes = [s]
        }
        var targetKey: TargetKey? = nil
        if let target {
            guard self.scope != nil else { throw ValidationError("--target needs --scope") }
            guard let slash = target.lastIndex(of: "/"), slash != target.startIndex, target.index(after: slash) != target.endIndex else {
                throw ValidationError("--target must be HOST/CONTAINER")
            }
            targetKey = TargetKey(host: String(target[..<slash]), container: String(target[target.index(after: slash)...]))
        }
        let config = ProgramSupport.loadConfigOrExit(options.config)
        let logger = ProgramSupport.bootstrapLogging(config, area: "autoheal", fileLogging: false)
        let publisher = HealRequestPublisher(
            settings: HealTopology.settings(from: config, connectionName: "autoheal-cli"),
            topology: HealTopology.declaration(for: config), logger: logger)
        var failed = false
        for scope in scopes {
            let envelope = Envelope(payload: payload, scope: scope, target: targetKey)
            do {
                try await publisher.publish(envelope, timeout: .seconds(timeout))
                print("published \(payload.rawValue) to \(Topology.exchange(for: scope)) (request \(envelope.id))")
            } catch {
                LogFile.standardError.write(line: "error: publishing \(payload.rawValue) to \(Topology.exchange(for: scope)) failed: \(error)")
                failed = true
            }
        }
        await publisher.shutdown()
        if failed { throw ExitCode(1) }
    }
}
