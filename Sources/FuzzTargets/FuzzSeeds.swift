import AutoHealCore
import Foundation

/// Seeds for the targets whose input the healer itself writes: heal requests as the monitor
/// and the CLI publish them, shared state as engines and the CLI publish it, and the config
/// template the CLI writes. The rest is captured from the real programs by
/// `scripts/fuzz-seeds.sh`, which calls this through `autoheal-fuzz write-seeds DIR`.
public enum FuzzSeeds {
    static let at = Date(timeIntervalSince1970: 1_795_000_000)

    public static func all() -> [(target: FuzzTarget, name: String, bytes: [UInt8])] {
        var seeds: [(FuzzTarget, String, [UInt8])] = []
        // Heal requests: the old plain strings, a sweep, targeted ones for every kind of target.
        for payload in Payload.allCases {
            seeds.append((.envelope, "plain-\(payload.rawValue).txt", Array(payload.rawValue.utf8)))
        }
        seeds.append((.envelope, "plain-quoted.txt", Array("\"container_auto_heal\"\n".utf8)))
        let sweep = Envelope(id: "7f1e6a8e-0c1b-4f8e-9d59-2b7f6f0e3c11", payload: .containerAutoHeal, scope: .control, issuedAt: at)
        seeds.append((.envelope, "sweep.json", sweep.encoded()))
        let targets: [(Payload, Scope, TargetKey)] = [
            (.containerAutoHeal, .compute, TargetKey(host: "compute-1", container: "nova_compute")),
            (.libvirtSuspendWakeup, .compute, TargetKey(host: "compute-1", container: "domain:6c0a4bd2-3f3e-4bd9-a8a5-2f6f2b4c9d10")),
            (.computeHostFailure, .control, TargetKey(host: "compute-2", container: "host")),
        ]
        for (index, (payload, scope, target)) in targets.enumerated() {
            let envelope = Envelope(
                id: "request-\(index)", payload: payload, scope: scope, issuedAt: at, expiresAt: at.addingTimeInterval(60), target: target)
            seeds.append((.envelope, "targeted-\(payload.rawValue).json", envelope.encoded()))
        }

        // Shared state: notices, budgets and a checkpoint from a state that saw them.
        let nova = TargetKey(host: "control-1", container: "nova_api")
        let notices: [(String, PauseNotice)] = [
            ("pause", PauseNotice(paused: true, until: at.addingTimeInterval(3600), reason: "kolla upgrade", by: "ops", at: at)),
            ("resume", PauseNotice(paused: false, until: nil, reason: "", by: "ops", at: at)),
            ("exclude", PauseNotice(paused: true, until: nil, reason: "debugging", by: "ops", at: at, target: nova)),
            ("release", PauseNotice(paused: false, until: nil, reason: "", by: "ops", at: at, target: nova, release: true)),
        ]
        var stream: [[UInt8]] = []
        for (name, notice) in notices {
            let body = SharedStateMessage.pause(notice).encoded()
            seeds.append((.sharedState, "\(name).json", body))
            stream.append(body)
        }
        var state = SharedState(
            identity: "engine-a",
            limits: .init(backoffInitial: 10, backoffMax: 300, healthyReset: 600, maxAttempts: 3, attemptWindow: 3600))
        for (offset, body) in stream.enumerated() { _ = state.apply(body, offset: Int64(offset), now: at) }
        if let entry = state.recordAction(nova, now: at) {
            let body = SharedStateMessage.budget(entry).encoded()
            seeds.append((.sharedState, "budget.json", body))
            stream.append(body)
        }
        if let entry = state.quarantine(TargetKey(host: "compute-1", container: "nova_compute"), now: at) {
            stream.append(SharedStateMessage.budget(entry).encoded())
        }
        let checkpoint = SharedStateMessage.checkpoint(state.checkpoint(now: at)).encoded()
        seeds.append((.sharedState, "checkpoint.json", checkpoint))
        seeds.append((.sharedState, "sync.json", SharedStateMessage.syncMarker("engine-a-1")))
        // The stream as an engine reads it: messages separated by NUL.
        seeds.append((.sharedState, "stream.bin", Array((stream + [checkpoint]).joined(separator: [0]))))

        // Config: the template the CLI writes, and a small complete one.
        seeds.append((.config, "template.conf", Array(ConfigTemplate.text.utf8)))
        return seeds.map { (target: $0.0, name: $0.1, bytes: $0.2) }
    }
}
