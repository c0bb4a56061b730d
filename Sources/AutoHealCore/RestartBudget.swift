import FoundationEssentials
import Glibc

/// Crash-loop back-off and quarantine per target, like Kubernetes' restart back-off.
///
/// The delay before the n-th action on a target is `backoffInitial · 2^(n-1)`, capped at
/// `backoffMax`. At most `maxAttempts` actions fall within `attemptWindow`; after that the
/// target is quarantined — no more actions — until it has been seen healthy for
/// `healthyReset` without a break (or ``release(_:)``). Being healthy that long also forgets
/// its attempts. A pure value: the caller supplies the clock.
public struct RestartBudget: Sendable {
    public struct Limits: Sendable, Equatable {
        public var backoffInitial: TimeInterval
        public var backoffMax: TimeInterval
        public var healthyReset: TimeInterval
        public var maxAttempts: Int
        public var attemptWindow: TimeInterval

        public init(
            backoffInitial: TimeInterval, backoffMax: TimeInterval, healthyReset: TimeInterval, maxAttempts: Int,
            attemptWindow: TimeInterval
        ) {
            self.backoffInitial = backoffInitial
            self.backoffMax = backoffMax
            self.healthyReset = healthyReset
            self.maxAttempts = maxAttempts
            self.attemptWindow = attemptWindow
        }

        public init(_ policy: AutoHealConfig.Policy) {
            self.init(
                backoffInitial: TimeInterval(policy.backoffInitialSeconds), backoffMax: TimeInterval(policy.backoffMaxSeconds),
                healthyReset: TimeInterval(policy.healthyResetSeconds), maxAttempts: policy.maxAttempts,
                attemptWindow: TimeInterval(policy.attemptWindowSeconds))
        }
    }

    public enum Verdict: Equatable, Sendable {
        /// Act now; this would be attempt `attempt`.
        case allowed(attempt: Int)
        /// Wait: the back-off after the last action runs until then.
        case backingOff(until: Date)
        /// Leave it to a person.
        case quarantined
    }

    /// What the budget knows about one target; saved and restored by the journal.
    public struct Record: Sendable, Equatable {
        public var actions: [Date] = []
        public var quarantined = false
        public var healthySince: Date? = nil

        public init(actions: [Date] = [], quarantined: Bool = false, healthySince: Date? = nil) {
            self.actions = actions
            self.quarantined = quarantined
            self.healthySince = healthySince
        }

        /// Says nothing: no action, no quarantine, no healthy streak.
        public var isEmpty: Bool { actions.isEmpty && !quarantined && healthySince == nil }
    }

    public let limits: Limits
    private var records: [TargetKey: Record] = [:]

    public init(limits: Limits) { self.limits = limits }

    public func verdict(for target: TargetKey, now: Date) -> Verdict {
        guard let record = records[target] else { return .allowed(attempt: 1) }
        if record.quarantined { return .quarantined }
        let recent = record.actions.filter { now.timeIntervalSince($0) < limits.attemptWindow }
        if recent.count >= limits.maxAttempts { return .quarantined }
        if let last = record.actions.last {
            let delay = min(limits.backoffInitial * pow(2, Double(max(record.actions.count - 1, 0))), limits.backoffMax)
            let until = last.addingTimeInterval(delay)
            if until > now { return .backingOff(until: until) }
        }
        return .allowed(attempt: recent.count + 1)
    }

    /// Records an action; returns true if the target is now quarantined (its budget is spent).
    @discardableResult
    public mutating func recordAction(_ target: TargetKey, now: Date) -> Bool {
        var record = records[target, default: Record()]
        record.actions.append(now)
        record.actions.removeAll { now.timeIntervalSince($0) >= limits.attemptWindow && $0 != now }
        record.healthySince = nil
        if record.actions.count >= limits.maxAttempts { record.quarantined = true }
        records[target] = record
        return record.quarantined
    }

    /// Marks the target quarantined because a wait for it failed (so no budget is left).
    public mutating func quarantine(_ target: TargetKey) {
        records[target, default: Record()].quarantined = true
    }

    /// Records that the target was seen healthy. Returns true when that ended a quarantine
    /// (healthy for `healthyReset` without a break).
    @discardableResult
    public mutating func recordHealthy(_ target: TargetKey, now: Date) -> Bool {
        guard var record = records[target] else { return false }
        let since = record.healthySince ?? now
        record.healthySince = since
        if now.timeIntervalSince(since) >= limits.healthyReset {
            records[target] = nil
            return record.quarantined
        }
        records[target] = record
        return false
    }

    /// Records that the target was seen unhealthy: a healthy streak is broken.
    public mutating func recordUnhealthy(_ target: TargetKey) {
        records[target]?.healthySince = nil
    }

    /// An operator's release: forget everything about the target.
    public mutating func release(_ target: TargetKey) { records[target] = nil }

    public func isQuarantined(_ target: TargetKey) -> Bool { records[target]?.quarantined ?? false }

    /// The target's record, nil when the budget knows nothing about it.
    public func record(for target: TargetKey) -> Record? { records[target] }

    /// Every target the budget knows about, with its record.
    public var allRecords: [TargetKey: Record] { records }

    /// Puts back a record read from the journal or another engine (nil forgets the target).
    public mutating func restore(_ target: TargetKey, _ record: Record?) { records[target] = record?.isEmpty == false ? record : nil }
}
