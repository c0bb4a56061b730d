import AutoHealCore
import DockerAPI
import Foundation
import Handlers
import NovaAPI

/// One parser of outside input, driven with arbitrary bytes: by libFuzzer in `autoheal-fuzz`
/// (built with `scripts/fuzz.sh`), and by the regression tests over the seed corpora and every
/// input that ever crashed (`Tests/Fuzz/`).
///
/// Each target calls the code the daemons call on that input, then what they do with the
/// result (decisions, log text, re-encoding), and checks invariants with `precondition`: a
/// broken invariant is a crash to the fuzzer like a trap.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// A message body on the heal queues: envelope JSON or the old plain-string payload.
    case envelope
    /// The INI config, through validation to `check-config`'s display.
    case config
    /// Chunks of `GET /events`: lines reassembled, events decoded, faults and times derived.
    case dockerEvents = "docker-events"
    /// `GET /containers/{id}/json`, through the revive decision.
    case containerInspect = "container-inspect"
    /// A Docker exec's multiplexed output stream.
    case execStream = "exec-stream"
    /// `virsh domstate --reason` and `virsh list --all --uuid` output, through the wake decision.
    case virsh
    /// `nova-manage placement audit` / `heal_allocations` output (stdout NUL stderr).
    case novaManage = "nova-manage"
    /// Messages of the shared state stream (pause, exclude, release notices, budgets,
    /// checkpoints), NUL-separated, applied in order, then the state used and checkpointed.
    case sharedState = "shared-state"
    /// Answers of the Nova API and Keystone (services, servers, token).
    case novaAPI = "nova-api"

    /// A fixed clock, so a run is reproducible.
    static let now = Date(timeIntervalSince1970: 1_795_000_000)

    public func run(_ bytes: [UInt8]) {
        switch self {
        case .envelope: Self.envelope(bytes)
        case .config: Self.config(bytes)
        case .dockerEvents: Self.dockerEvents(bytes)
        case .containerInspect: Self.containerInspect(bytes)
        case .execStream: Self.execStream(bytes)
        case .virsh: Self.virsh(bytes)
        case .novaManage: Self.novaManage(bytes)
        case .sharedState: Self.sharedState(bytes)
        case .novaAPI: Self.novaAPI(bytes)
        }
    }

    static func envelope(_ bytes: [UInt8]) {
        for scope in Scope.allCases {
            guard let envelope = try? Envelope.decode(bytes, queueScope: scope, now: now) else { continue }
            // What the engine logs and publishes again (requeue, dead letter).
            _ = envelope.target?.description
            let again = try? Envelope.decode(envelope.encoded(), queueScope: scope, now: now.addingTimeInterval(-1))
            precondition(
                again.map { $0.id == envelope.id && $0.payload == envelope.payload && $0.target == envelope.target } == true,
                "an accepted envelope does not survive re-encoding")
        }
    }

    static func config(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        _ = try? INIDocument(parsing: text)
        do {
            let config = try AutoHealConfig.parse(text, path: "fuzz.conf", environment: [:])
            _ = config.renderedForDisplay()
        } catch {
            _ = error.description
        }
    }

    static func dockerEvents(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        // The first byte chooses the chunk size, so reassembly across chunk borders is tried.
        let size = Int(first % 64) + 1
        let body = bytes.dropFirst()
        var decoder = DockerEventDecoder()
        var index = body.startIndex
        while index < body.endIndex {
            let end = body.index(index, offsetBy: size, limitedBy: body.endIndex) ?? body.endIndex
            for item in decoder.items(in: Array(body[index..<end])) {
                guard case .event(let event) = item else { continue }
                _ = ContainerFault(action: event.action, attributes: event.attributes)
                let resume = DockerTimestamp.resuming(after: event.timeNano, now: DockerTimestamp(nanosecondsSinceEpoch: 0))
                _ = resume.description
                _ = DockerTimestamp(nanosecondsSinceEpoch: event.timeNano).duration(until: .now)
            }
            index = end
        }
    }

    static func containerInspect(_ bytes: [UInt8]) {
        guard let details = try? JSONInput.decode(ContainerDetails.self, from: Data(bytes)) else { return }
        let seen = details.observation
        _ = seen.summary
        for rules in [ReviveDecision.Rules(), ReviveDecision.Rules(reviveStopped: true, graceAfterStart: 60)] {
            _ = ReviveDecision.decide(seen, rules: rules, now: now)
        }
    }

    static func execStream(_ bytes: [UInt8]) {
        // The incremental decoder of a long-running exec (virsh event) agrees with the whole-
        // stream split, whatever the chunking: fed in two parts at a point the input picks.
        var decoder = ExecLineDecoder()
        let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
        let streamed = (try? decoder.lines(in: Array(bytes[..<cut]))).flatMap { first in
            (try? decoder.lines(in: Array(bytes[cut...]))).map { first + $0 }
        }
        guard let (stdout, stderr) = try? ExecStreamDemultiplexer.split(bytes) else { return }
        precondition(stdout.count + stderr.count <= bytes.count, "more output than input")
        _ = String(decoding: stdout, as: UTF8.self)
        if let streamed {
            let outLines = streamed.compactMap { if case .stdout(let l) = $0 { l } else { nil } }
            // Counted on bytes: as Characters, "\r\n" is one and would not match "\n".
            let whole = stdout.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast()
            precondition(
                outLines.count == whole.count || stdout.count > (1 << 20), "the streamed lines differ from the whole stream's")
        }
    }

    static let libvirtSettings: AutoHealConfig.Libvirt? = {
        (try? AutoHealConfig.parse("[hosts]\ncompute = 127.0.0.1\n", path: "fuzz.conf"))?.libvirt
    }()

    static func virsh(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let state = LibvirtDomainState(parsing: text) {
            _ = state.description
            if let settings = libvirtSettings { _ = LibvirtWakeDecision.decide(state, settings: settings) }
        }
        if let uuids = LibvirtDomainState.parseUUIDList(text) {
            for uuid in uuids { precondition(TargetKey.isUUID(uuid), "a listed domain is not a UUID") }
        }
        for line in text.split(separator: "\n") {
            if let event = LibvirtEvent(line: String(line)) {
                precondition(!event.domain.isEmpty && !event.kind.isEmpty, "an event without a domain or kind")
                _ = event.suspends
            }
        }
    }

    static func novaManage(_ bytes: [UInt8]) {
        let parts = bytes.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
        let stdout = String(decoding: parts.first ?? [], as: UTF8.self)
        let stderr = parts.count > 1 ? String(decoding: parts[1], as: UTF8.self) : ""
        let audit = PlacementAuditReport(parsing: stdout)
        for allocation in audit.deletable + audit.deleted { _ = allocation.consumer }
        _ = HealAllocationsReport(parsing: stdout)
        _ = NovaManageExit.errorSummary(stdout: stdout, stderr: stderr)
        let code = Int(bytes.first ?? 0)
        _ = NovaManageExit.audit(code)
        _ = NovaManageExit.healAllocations(code)
    }

    static func sharedState(_ bytes: [UInt8]) {
        let limits = RestartBudget.Limits(backoffInitial: 10, backoffMax: 300, healthyReset: 600, maxAttempts: 3, attemptWindow: 3600)
        let later = now.addingTimeInterval(7200)
        var state = SharedState(identity: "engine-a", limits: limits)
        var targets: Set<TargetKey> = []
        for (offset, body) in bytes.split(separator: 0).enumerated() {
            _ = state.apply(Array(body), offset: Int64(offset), now: now)
            switch try? SharedStateMessage.decode(Array(body), now: now) {
            case .pause(let notice)?: if let target = notice.target { targets.insert(target) }
            case .budget(let entry)?: targets.insert(entry.key)
            case .checkpoint(let checkpoint)?: targets.formUnion(checkpoint.budgets.map(\.key))
            default: break
            }
            _ = DurationText.seconds(String(decoding: body.prefix(40), as: UTF8.self))
        }
        state.caughtUp(at: Int64(bytes.count))
        _ = state.activePauses(now: now)
        for target in targets.sorted(by: { $0.description < $1.description }) {
            _ = state.pauseReason(for: [target], now: now)
            _ = state.verdict(for: target, now: now)
            _ = state.recordUnhealthy(target, now: now)
            _ = state.recordAction(target, now: now)
            _ = state.quarantine(target, now: now)
            _ = state.recordHealthy(target, now: later)
        }
        // What a checkpoint written from this state holds must be read back by another engine.
        let checkpoint = SharedStateMessage.checkpoint(state.checkpoint(now: later))
        let body = checkpoint.encoded()
        guard case .checkpoint(let read)? = try? SharedStateMessage.decode(body, now: later) else {
            preconditionFailure("a checkpoint this engine wrote is refused: \(String(decoding: body.prefix(300), as: UTF8.self))")
        }
        var other = SharedState(identity: "engine-b", limits: limits)
        other.restore(read.budgets)
        _ = other.apply(body, offset: 0, now: later)
    }

    static let keystone = AutoHealConfig.Nova.Keystone(
        authURL: "https://keystone.invalid:5000", username: "autoheal", password: "x", userDomainName: "Default",
        projectName: "service", projectDomainName: "Default", regionName: "RegionOne", interface: "internal")

    static func novaAPI(_ bytes: [UInt8]) {
        let data = Data(bytes)
        struct Services: Decodable { var services: [NovaService] }
        struct Servers: Decodable { var servers: [NovaServer] }
        struct Server: Decodable { var server: NovaServer }
        _ = (try? JSONInput.decode(Services.self, from: data))?.services.map(\.isUp)
        _ = try? JSONInput.decode(Servers.self, from: data)
        _ = try? JSONInput.decode(Server.self, from: data)
        _ = try? KeystoneLogin.parse(bytes, keystone: keystone)
    }
}
