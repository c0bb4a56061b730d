import ArgumentParser
import AutoHealCore
import Foundation
import HTTP
import Logging
import AMQP
import Journal
import Messaging

/// autoheal: the operator's tool.
@main
struct AutoHealCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autoheal",
        abstract: "Operate Cloud Auto Heal: check the config, send a payload now, pause and resume healing.",
        subcommands: [
            InitConfig.self, CheckConfig.self, Publish.self, Pause.self, Resume.self, Release.self, Status.self, History.self, Healthz.self,
        ])
}

struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "Config file (default /etc/auto_heal.conf).")
    var config: String?
}

/// `autoheal init-config [--output PATH]`: writes the commented template, mode 600.
struct InitConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init-config",
        abstract: "Write the commented config template (mode 600) and say what to edit.",
        discussion: """
            From an image, onto the host: docker run --rm -v /etc:/host-etc --entrypoint autoheal \
            cloud-auto-heal-engine init-config --output /host-etc/auto_heal.conf
            """)

    @Option(help: "Where to write it (default /etc/auto_heal.conf). An existing file is never replaced.")
    var output: String = AutoHealConfig.defaultPath

    func run() async throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory) {
            LogFile.standardError.write(
                line: isDirectory.boolValue
                    ? "error: \(output) is a directory (Docker makes one when it mounts a host path that does not exist): remove it and run this again"
                    : "error: \(output) exists; it is left as it is (check it with: autoheal check-config --config \(output))")
            throw ExitCode(1)
        }
        do {
            try AutoHealConfig.writeTemplate(to: output)
        } catch {
            LogFile.standardError.write(line: "error: \(error)")
            throw ExitCode(1)
        }
        print(
            """
            wrote \(output) (mode 600): the commented template.
            Edit at least [rabbitmq] (rabbitmq_addr, username, password or password_file) and [hosts]
            (control_hosts, compute_hosts), check it with `autoheal check-config`, then start the daemons.
            """)
    }
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
            throw ValidationError(
                "unknown payload \"\(self.payload)\"; expected one of \(Payload.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var scopes = payload.scopes
        if let scope {
            guard let s = Scope(rawValue: scope) else { throw ValidationError("--scope must be control or compute") }
            guard payload.scopes.contains(s) else { throw ValidationError("\(payload.rawValue) is not a \(s.rawValue) payload") }
            scopes = [s]
        }
        if target != nil && self.scope == nil { throw ValidationError("--target needs --scope") }
        let targetKey = try target.map(parseTarget)
        let publisher = cliPublisher(ProgramSupport.loadConfigOrExit(options.config))
        var failed = false
        for scope in scopes {
            let envelope = Envelope(payload: payload, scope: scope, target: targetKey)
            do {
                try await publisher.publish(envelope, timeout: .seconds(timeout))
                print("published \(payload.rawValue) to \(Topology.exchange(for: scope)) (request \(envelope.id))")
            } catch {
                LogFile.standardError.write(
                    line: "error: publishing \(payload.rawValue) to \(Topology.exchange(for: scope)) failed: \(error)")
                failed = true
            }
        }
        await publisher.shutdown()
        if failed { throw ExitCode(1) }
    }
}

/// Who runs the CLI, for pause notices: user@host.
func operatorIdentity() -> String {
    let user = ProcessInfo.processInfo.environment["SUDO_USER"] ?? ProcessInfo.processInfo.environment["USER"] ?? "root"
    return "\(user)@\(ProcessInfo.processInfo.hostName)"
}

/// The CLI's publisher: the config's broker and topology, logging to standard output only.
func cliPublisher(_ config: AutoHealConfig) -> HealRequestPublisher {
    let logger = ProgramSupport.bootstrapLogging(config, area: "autoheal", fileLogging: false)
    return HealRequestPublisher(
        settings: HealTopology.settings(from: config, connectionName: "autoheal-cli"),
        topology: HealTopology.declaration(for: config), logger: logger)
}

/// Publishes a pause notice and reports the result; exits 1 if the broker did not confirm it.
func sendPauseNotice(_ notice: PauseNotice, options: ConfigOption) async throws {
    let publisher = cliPublisher(ProgramSupport.loadConfigOrExit(options.config))
    do {
        try await publisher.publishState(.pause(notice))
        await publisher.shutdown()
    } catch {
        await publisher.shutdown()
        LogFile.standardError.write(line: "error: the broker did not take the notice: \(error)")
        throw ExitCode(1)
    }
}

/// `autoheal pause [--for DURATION] [--reason TEXT]`: every engine stops acting (it still observes and logs).
struct Pause: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pause healing on every engine (they keep observing and log what they would do).",
        discussion: "The pause is kept on the broker: it survives engine restarts and ends by itself after --for.")

    @OptionGroup var options: ConfigOption

    @Option(name: .customLong("for"), help: "How long: 90s, 30m, 2h, 1h30m, 1d. Default: until `autoheal resume`.")
    var duration: String?

    @Option(help: "Why (shown in the engines' logs).")
    var reason: String = ""

    @Option(help: "Only exclude this container on this host, as HOST/CONTAINER.")
    var target: String?

    func run() async throws {
        let key = try target.map(parseTarget)
        var until: Date? = nil
        if let duration {
            guard let seconds = DurationText.seconds(duration) else {
                throw ValidationError("--for takes a duration such as 90s, 30m, 2h or 1h30m; got \"\(duration)\"")
            }
            until = Date().addingTimeInterval(TimeInterval(seconds))
        }
        let notice = PauseNotice(paused: true, until: until, reason: reason, by: operatorIdentity(), target: key)
        try await sendPauseNotice(notice, options: options)
        print(key == nil ? "healing \(notice.summary)" : notice.summary)
    }
}

/// `autoheal resume`: ends a pause.
struct Resume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "End a pause (or an exclusion) given with `autoheal pause`.")

    @OptionGroup var options: ConfigOption

    @Option(help: "End the exclusion of this HOST/CONTAINER only.")
    var target: String?

    func run() async throws {
        let key = try target.map(parseTarget)
        try await sendPauseNotice(PauseNotice(paused: false, until: nil, reason: "", by: operatorIdentity(), target: key), options: options)
        print(key.map { "\($0) included again" } ?? "healing resumed")
    }
}

/// `autoheal release HOST/CONTAINER`: ends a quarantine now.
struct Release: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Release a quarantined container on a host: the engine forgets its restart budget and acts again.")

    @OptionGroup var options: ConfigOption

    @Argument(help: "HOST/CONTAINER, as in the config (e.g. 10.0.0.11/nova_api).")
    var target: String

    func run() async throws {
        let key = try parseTarget(target)
        try await sendPauseNotice(
            PauseNotice(paused: false, until: nil, reason: "released", by: operatorIdentity(), target: key, release: true), options: options
        )
        print("\(key) released")
    }
}

/// HOST/CONTAINER, split at the last slash (hosts may be unix:///path/docker.sock).
func parseTarget(_ text: String) throws -> TargetKey {
    guard let slash = text.lastIndex(of: "/"), slash != text.startIndex, text.index(after: slash) != text.endIndex else {
        throw ValidationError("a target must be HOST/CONTAINER, got \"\(text)\"")
    }
    return TargetKey(host: String(text[..<slash]), container: String(text[text.index(after: slash)...]))
}

/// `autoheal status`: the shared state (pauses, exclusions, budgets) and the queues.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show whether healing is paused, what is excluded or quarantined, and what waits in the queues.")

    @OptionGroup var options: ConfigOption

    func run() async throws {
        let config = ProgramSupport.loadConfigOrExit(options.config)
        let settings = HealTopology.settings(from: config, connectionName: "autoheal-cli")
        if let file = config.policy.pauseFile, FileManager.default.fileExists(atPath: file) {
            print("paused: pause_file \(file) exists")
        }
        let now = Date()
        var state = SharedState(identity: "autoheal-cli", limits: RestartBudget.Limits(config.policy))
        var ignored: [String] = []
        do {
            let messages = try AMQPStreamReader.readToEnd(
                settings: settings, topology: HealTopology.declaration(for: config), queue: Topology.stateQueue,
                marker: SharedStateMessage.syncMarker)
            for message in messages {
                for case .ignored(let why) in state.apply(message.body, offset: message.offset, now: now) { ignored.append(why) }
            }
            let pauses = state.activePauses(now: now)
            if let all = pauses.first(where: { $0.target == nil }) { print("paused: \(all.summary)") } else { print("not paused") }
            for notice in pauses where notice.target != nil { print("excluded: \(notice.summary)") }
            for queue in Scope.allCases.map(Topology.queue(for:)) + [Topology.deadLetterQueue] {
                let counts = try AMQPQueueInspector.counts(of: queue, settings: settings)
                print("queue \(queue): \(counts.ready) ready, \(counts.consumers) consumer(s)")
            }
        } catch {
            LogFile.standardError.write(line: "error: cannot ask the broker: \(error)")
            throw ExitCode(1)
        }
        if config.policy.dryRun { print("dry_run = true in \(config.path)") }
        for why in ignored { print("ignored state message: \(why)") }
        // Budgets as every engine shares them.
        for (target, _) in state.budget.allRecords.sorted(by: { $0.key.description < $1.key.description }) {
            switch state.verdict(for: target, now: now) {
            case .quarantined: print("quarantined: \(target) (release with: autoheal release \(target))")
            case .backingOff(let until): print("backing off: \(target), next action allowed at \(Envelope.formatDate(until))")
            case .allowed(let attempt): print("watched: \(target), next action would be attempt \(attempt)")
            }
        }
        // The journal of the engine on this host, if there is one.
        let journalPath = (config.engine.stateDirectory as NSString).appendingPathComponent("journal.sqlite")
        guard FileManager.default.fileExists(atPath: journalPath),
            let journal = try? DecisionJournal(directory: config.engine.stateDirectory)
        else {
            print("no decision journal at \(journalPath) (last runs and decisions are shown on a host with an engine)")
            return
        }
        for run in (try? journal.lastRuns()) ?? [] {
            print(
                "last run: \(run.payload) \(run.scope) at \(Envelope.formatDate(run.time)) (\(run.outcome), \(String(format: "%.3f", run.duration))s)"
            )
        }
        if let last = try? journal.history(limit: 1).last {
            print("last decision: \(Envelope.formatDate(last.time)) \(last.host)/\(last.target) \(last.decision.rawValue)")
        }
    }
}

/// `autoheal history [--host H] [--container C] [--since T]`: the engine's decisions on this host.
struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the decisions of the engine on this host (from its journal in [engine] state_dir).")

    @OptionGroup var options: ConfigOption

    @Option(help: "Only this host (as in the config).")
    var host: String?

    @Option(help: "Only this container (or domain:UUID).")
    var container: String?

    @Option(help: "Only since: a duration back (30m, 2h, 1d) or an ISO 8601 time.")
    var since: String?

    @Option(help: "At most this many lines (the newest).")
    var limit: Int = 200

    func run() async throws {
        let config = ProgramSupport.loadConfigOrExit(options.config)
        var from: Date? = nil
        if let since {
            if let seconds = DurationText.seconds(since) {
                from = Date().addingTimeInterval(-TimeInterval(seconds))
            } else if let date = Envelope.parseDate(since) {
                from = date
            } else {
                throw ValidationError("--since takes a duration (30m, 2h, 1d) or an ISO 8601 time; got \"\(since)\"")
            }
        }
        let journalPath = (config.engine.stateDirectory as NSString).appendingPathComponent("journal.sqlite")
        guard FileManager.default.fileExists(atPath: journalPath) else {
            LogFile.standardError.write(line: "error: no decision journal at \(journalPath); run history on a host with an engine")
            throw ExitCode(1)
        }
        let journal = try DecisionJournal(directory: config.engine.stateDirectory)
        for entry in try journal.history(host: host, target: container, since: from, limit: limit) {
            var line =
                "\(Envelope.formatDate(entry.time)) \(entry.host)/\(entry.target) seen=\(entry.seen) decision=\(entry.decision.rawValue)"
            if !entry.action.isEmpty { line += " action=\(entry.action)" }
            if !entry.result.isEmpty { line += " result=\(entry.result)" }
            if let d = entry.duration { line += " duration=\(String(format: "%.3f", d))s" }
            line += " reason=\"\(entry.reason)\""
            print(line)
        }
    }
}

/// `autoheal healthz engine|monitor`: asks the daemon's own `/healthz` (the images' HEALTHCHECK).
struct Healthz: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask a running daemon's /healthz; exit 0 when it answers 200, 1 otherwise.",
        discussion:
            "The address is [metrics] engine_listen or monitor_listen of the config. With the endpoint turned off there is nothing to ask: it says so and exits 0."
    )

    @OptionGroup var options: ConfigOption

    @Argument(help: "engine or monitor.")
    var daemon: String

    func run() async throws {
        let config = ProgramSupport.loadConfigOrExit(options.config)
        let listen: AutoHealConfig.BrokerAddress?
        switch daemon {
        case "engine": listen = config.metrics.engineListen
        case "monitor": listen = config.metrics.monitorListen
        default: throw ValidationError("expected engine or monitor, got \"\(daemon)\"")
        }
        guard let listen else {
            print("\(daemon): [metrics] \(daemon)_listen is empty in \(config.path): no health endpoint to ask")
            return
        }
        let http = HTTPClient(name: "healthz")
        defer { http.shutdown() }
        let url = "http://\(listen)/healthz"
        do {
            let response = try await http.execute(HTTPRequest(url: url, timeout: .seconds(5), connectTimeout: .seconds(2)))
            let text = response.bodyText.trimmingCharacters(in: .whitespacesAndNewlines)
            print("\(daemon) \(url): \(response.status) \(text)")
            if response.status != 200 { throw ExitCode(1) }
        } catch let error as HTTPError {
            print("\(daemon) \(url): no answer (\(error))")
            throw ExitCode(1)
        }
    }
}
