import AutoHealCore
import Logging
import FoundationEssentials

/// The policy's memory, in one actor: the ``SharedState`` read from the broker (pauses,
/// exclusions, releases, every target's budget) and what only this engine knows — which
/// quarantines it already reported, which services are held after a rolling action that
/// did not help, and how many hosts wait for a rolling slot per service.
actor PolicyState {
    private(set) var shared: SharedState
    private var reported: Set<TargetKey> = []
    /// Held services: why, and the target whose action did not help (seeing it healthy lifts the hold).
    private var holds: [String: (why: String, target: TargetKey)] = [:]
    private var pendingCount: [String: Int] = [:]
    private var settling: [String: Settling] = [:]
    /// Messages applied since the last checkpoint on the stream (this engine's or another's).
    private var sinceCheckpoint = 0
    private let caughtUpFlag = AsyncFlag()
    /// Targets released (or whose hold was lifted) by an operator, to say so where the handler next looks at them.
    private var releaseNotes: Set<TargetKey> = []
    /// Targets whose budget from another engine this one has said it continues with.
    private var announcedTakeovers: Set<TargetKey> = []

    init(identity: String, limits: RestartBudget.Limits, caughtUp: Bool) {
        shared = SharedState(identity: identity, limits: limits)
        if caughtUp { caughtUpFlag.set() }
    }

    // MARK: - The shared state

    /// Applies one stream message; returns what changed and whether a checkpoint is due.
    func apply(_ body: [UInt8], offset: Int64, now: Date, checkpointEvery: Int) -> (effects: [SharedState.Effect], checkpointDue: Bool) {
        let effects = shared.apply(body, offset: offset, now: now)
        if case .checkpoint? = try? SharedStateMessage.decode(body, now: now) {
            sinceCheckpoint = 0
        } else {
            sinceCheckpoint += 1
        }
        for effect in effects {
            switch effect {
            case .released(let target, let hadBudget):
                reported.remove(target)
                if liftHold(by: target) || hadBudget { releaseNotes.insert(target) }
            case .adopted(let entry) where entry.quarantined:
                reported.insert(entry.key)  // its writer reported it
            default: break
            }
        }
        let due = sinceCheckpoint >= checkpointEvery
        if due { sinceCheckpoint = 0 }
        return (effects, due)
    }

    func restore(_ entries: [BudgetEntry]) {
        shared.restore(entries)
        for entry in entries where entry.quarantined { reported.insert(entry.key) }
    }

    func caughtUp(at offset: Int64) {
        shared.caughtUp(at: offset)
        caughtUpFlag.set()
    }

    /// Waits until the stream has been read to the end once, at most `timeout`; false if not.
    func waitUntilCaughtUp(timeout: Duration) async -> Bool { await caughtUpFlag.wait(timeout: timeout) }

    func checkpoint(now: Date) -> StateCheckpoint { shared.checkpoint(now: now) }

    // MARK: - Decisions

    func pauseReason(for targets: [TargetKey], now: Date) -> String? { shared.pauseReason(for: targets, now: now) }
    func verdict(_ target: TargetKey, now: Date) -> RestartBudget.Verdict { shared.verdict(for: target, now: now) }
    func record(_ target: TargetKey) -> RestartBudget.Record? { shared.budget.record(for: target) }
    var quarantinedCount: Int { shared.quarantined.count }

    func recordAction(_ target: TargetKey, now: Date) -> BudgetEntry? { shared.recordAction(target, now: now) }
    func recordUnhealthy(_ target: TargetKey, now: Date) -> BudgetEntry? { shared.recordUnhealthy(target, now: now) }

    /// Records a healthy sighting: whether that ended a quarantine or a rolling hold, and the entry to publish.
    func recordHealthy(_ target: TargetKey, now: Date) -> (released: Bool, holdLifted: Bool, entry: BudgetEntry?) {
        let (released, entry) = shared.recordHealthy(target, now: now)
        if released { reported.remove(target) }
        return (released, liftHold(by: target), entry)
    }

    /// True once after an operator released the target.
    func takeReleaseNote(_ target: TargetKey) -> Bool { releaseNotes.remove(target) != nil }

    /// The engine whose budget for the target this one continues with, the first time it acts on it.
    func takeover(_ target: TargetKey) -> String? {
        guard let stamp = shared.stamps[target], stamp.by != shared.identity, announcedTakeovers.insert(target).inserted else { return nil }
        return stamp.by
    }

    /// True the first time a quarantined target is reported.
    func markReported(_ target: TargetKey) -> Bool { reported.insert(target).inserted }

    // MARK: - Rolling

    /// The last done action on a service that nobody waited for: another host's action on
    /// that service waits for it to settle first (or holds the service after `rolling_wait`).
    struct Settling: Sendable {
        var action: HealAction
        var settled: @Sendable () async -> Bool
        var logger: Logger
    }

    func setSettling(_ service: String, _ settling: Settling) { self.settling[service] = settling }
    func takeSettling(_ service: String) -> Settling? { settling.removeValue(forKey: service) }

    func addPending(_ service: String) { pendingCount[service, default: 0] += 1 }
    func removePending(_ service: String) { pendingCount[service, default: 1] -= 1 }
    func pending(_ service: String) -> Int { pendingCount[service, default: 0] }
    func hold(_ service: String) -> String? { holds[service]?.why }

    /// Lifts the hold `target`'s action caused, if any; true if there was one.
    @discardableResult
    private func liftHold(by target: TargetKey) -> Bool {
        guard let service = holds.first(where: { $0.value.target == target })?.key else { return false }
        holds[service] = nil
        return true
    }

    /// Holds the service after `target`'s action did not help, and quarantines the target.
    func hold(_ target: TargetKey, service: String, why: String, now: Date) -> BudgetEntry? {
        holds[service] = (why, target)
        reported.insert(target)
        return shared.quarantine(target, now: now)
    }
}
