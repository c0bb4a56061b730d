import FoundationEssentials

/// What the engines share — maintenance pauses, exclusions, operators' releases and every
/// target's restart budget — as one engine knows it after reading the broker's state stream
/// up to ``offset``. A pure value: the stream's messages are applied in the broker's order
/// with ``apply(_:offset:now:)``, and local budget changes come back as ``BudgetEntry``s to
/// publish.
///
/// No rule depends on two hosts' clocks agreeing:
/// - for each pause key (all healing, or one target) the notice furthest on in the stream wins,
///   so two operators acting at once end in the same state on every engine;
/// - budgets are merged per target by ``BudgetStamp`` (a Lamport version, then the writer's
///   name), never replaced wholesale;
/// - a release lifts a target's budget only if that budget was last changed by an engine that
///   had not yet read the release (its `basis` offset is before the release's);
/// - a message dated more than ``SharedStateMessage/clockTolerance`` ahead, malformed, or
///   naming a target twice is ignored and reported once (``Effect/ignored(_:)``).
public struct SharedState: Sendable {
    public struct Pause: Sendable, Equatable {
        public var notice: PauseNotice
        /// The stream offset it came from.
        public var offset: Int64
    }

    /// What applying a message changed, for the caller to log.
    public enum Effect: Sendable, Equatable {
        /// A pause (target nil) or an exclusion is now in force.
        case paused(PauseNotice)
        /// A notice ended a pause or exclusion that was in force.
        case resumed(PauseNotice)
        /// An operator released the target; `hadBudget` says whether there was anything to forget.
        case released(TargetKey, hadBudget: Bool)
        /// Another engine's budget for a target replaced this one's.
        case adopted(BudgetEntry)
        /// The message was not taken: why.
        case ignored(String)
    }

    /// This engine's name in budget entries (host-pid).
    public let identity: String
    public private(set) var budget: RestartBudget
    public private(set) var stamps: [TargetKey: BudgetStamp] = [:]
    public private(set) var pauses: [TargetKey?: Pause] = [:]
    /// The offset of the newest release per target.
    public private(set) var releases: [TargetKey: Int64] = [:]
    /// The last stream offset applied; -1 before the first.
    public private(set) var offset: Int64 = -1
    /// The highest budget version seen, from this engine or another.
    public private(set) var maxVersion = 0

    public init(identity: String, limits: RestartBudget.Limits) {
        self.identity = identity
        budget = RestartBudget(limits: limits)
    }

    // MARK: - Reading the stream

    /// Applies the message at `offset` of the stream.
    public mutating func apply(_ body: [UInt8], offset: Int64, now: Date) -> [Effect] {
        self.offset = max(self.offset, offset)
        let message: SharedStateMessage
        do {
            message = try SharedStateMessage.decode(body, now: now)
        } catch {
            return [.ignored("state message at offset \(offset) ignored: \(error)")]
        }
        switch message {
        case .pause(let notice) where notice.release:
            guard let target = notice.target else { return [.ignored("release at offset \(offset) names no target")] }
            return release(target, at: offset)
        case .pause(let notice):
            return pause(notice, at: offset, now: now)
        case .budget(let entry):
            return adopt(entry)
        case .checkpoint(let checkpoint):
            var effects: [Effect] = []
            for pause in checkpoint.pauses { effects += self.pause(pause.notice, at: pause.offset, now: now) }
            for release in checkpoint.releases { effects += self.release(release.target, at: release.offset) }
            for entry in checkpoint.budgets { effects += adopt(entry) }
            return effects
        case .sync:
            return []
        }
    }

    /// The stream has been read to `offset`, where this engine's marker is. Budgets restored
    /// from the journal that claim a later offset come from a stream that was since deleted
    /// and made again: they are moved to this offset, so releases from now on apply to them.
    public mutating func caughtUp(at offset: Int64) {
        self.offset = max(self.offset, offset)
        for (target, stamp) in stamps where stamp.basis > self.offset {
            stamps[target]?.basis = self.offset
        }
    }

    /// Puts back budgets kept in this engine's journal (before reading the stream).
    public mutating func restore(_ entries: [BudgetEntry]) {
        for entry in entries { _ = adopt(entry) }
    }

    private mutating func pause(_ notice: PauseNotice, at offset: Int64, now: Date) -> [Effect] {
        let previous = pauses[notice.target]
        guard previous.map({ $0.offset < offset }) ?? true else { return [] }
        pauses[notice.target] = Pause(notice: notice, offset: offset)
        if notice.isActive(now: now) { return [.paused(notice)] }
        if previous?.notice.isActive(now: now) == true { return [.resumed(notice)] }
        return []
    }

    private mutating func release(_ target: TargetKey, at offset: Int64) -> [Effect] {
        releases[target] = max(releases[target] ?? -1, offset)
        // Changed by an engine that had already read this release: the release is older.
        if let stamp = stamps[target], stamp.basis >= offset { return [] }
        let hadBudget = budget.record(for: target) != nil
        budget.release(target)
        return [.released(target, hadBudget: hadBudget)]
    }

    private mutating func adopt(_ entry: BudgetEntry) -> [Effect] {
        maxVersion = max(maxVersion, entry.version)
        if let current = stamps[entry.key], !entry.stamp.supersedes(current) { return [] }
        var record = entry.record
        // A release this engine has read, that the writer had not: the release wins.
        if let released = releases[entry.key], released > entry.basis { record = nil }
        budget.restore(entry.key, record)
        stamps[entry.key] = entry.stamp
        return entry.by == identity ? [] : [.adopted(entry)]
    }

    // MARK: - Questions

    /// Why an action on these targets may not happen now (a pause of all healing or an
    /// exclusion of one of them, still in force at `now`), or nil.
    public func pauseReason(for targets: [TargetKey], now: Date) -> String? {
        if let all = pauses[nil]?.notice, all.isActive(now: now) { return all.summary }
        for target in targets {
            if let excluded = pauses[target]?.notice, excluded.isActive(now: now) { return excluded.summary }
        }
        return nil
    }

    /// The pauses and exclusions in force at `now` (target nil: all healing).
    public func activePauses(now: Date) -> [PauseNotice] {
        pauses.values.map(\.notice).filter { $0.isActive(now: now) }.sorted { $0.at < $1.at }
    }

    public func verdict(for target: TargetKey, now: Date) -> RestartBudget.Verdict { budget.verdict(for: target, now: now) }

    public var quarantined: [TargetKey] {
        budget.allRecords.filter(\.value.quarantined).map(\.key).sorted { $0.description < $1.description }
    }

    // MARK: - This engine's changes

    /// Records an action on the target; returns the entry to publish.
    public mutating func recordAction(_ target: TargetKey, now: Date) -> BudgetEntry? {
        change(target, now: now) { $0.recordAction(target, now: now) }
    }

    /// Quarantines the target (a rolling action that did not help); returns the entry to publish.
    public mutating func quarantine(_ target: TargetKey, now: Date) -> BudgetEntry? {
        change(target, now: now) { $0.quarantine(target) }
    }

    /// Records that the target was seen healthy: `released` when that ended a quarantine.
    public mutating func recordHealthy(_ target: TargetKey, now: Date) -> (released: Bool, entry: BudgetEntry?) {
        var released = false
        let entry = change(target, now: now) { released = $0.recordHealthy(target, now: now) }
        return (released, entry)
    }

    /// Records that the target was seen in need of an action: a healthy streak is broken.
    public mutating func recordUnhealthy(_ target: TargetKey, now: Date) -> BudgetEntry? {
        change(target, now: now) { $0.recordUnhealthy(target) }
    }

    private mutating func change(_ target: TargetKey, now: Date, _ body: (inout RestartBudget) -> Void) -> BudgetEntry? {
        let before = budget.record(for: target)
        body(&budget)
        let after = budget.record(for: target)
        guard before != after else { return nil }
        maxVersion += 1
        let stamp = BudgetStamp(version: maxVersion, by: identity, basis: offset)
        stamps[target] = stamp
        return BudgetEntry(key: target, record: after, stamp: stamp, at: now)
    }

    /// Everything still in force, for a checkpoint on the stream: active pauses, releases of
    /// targets with a budget, and every budget that says something.
    public func checkpoint(now: Date) -> StateCheckpoint {
        let activePauses = pauses.values.filter { $0.notice.isActive(now: now) }
            .sorted { $0.offset < $1.offset }
            .map { StateCheckpoint.Pause(offset: $0.offset, notice: $0.notice) }
        let keptReleases = releases.filter { stamps[$0.key] != nil }
            .sorted { $0.value < $1.value }
            .map { StateCheckpoint.Release(offset: $0.value, target: $0.key) }
        let budgets = stamps.compactMap { target, stamp -> BudgetEntry? in
            guard let record = budget.record(for: target) else { return nil }
            return BudgetEntry(key: target, record: record, stamp: stamp, at: now)
        }.sorted { $0.key.description < $1.key.description }
        return StateCheckpoint(by: identity, at: now, offset: offset, pauses: activePauses, releases: keptReleases, budgets: budgets)
    }
}
