/// Counts actions per (host, container) that were not followed by the target being seen
/// healthy, and says when a target must be left to a person.
///
/// Counting is per target, never per host: a crash loop of `nova_api` does not stop the
/// healer from reviving `cinder_api` on the same host. Seeing the target healthy resets it.
public struct AttemptTracker: Sendable {
    public let limit: Int
    private var attempts: [TargetKey: Int] = [:]

    public init(limit: Int) {
        precondition(limit >= 1)
        self.limit = limit
    }

    /// Actions taken on the target since it was last seen healthy.
    public func attempts(for target: TargetKey) -> Int { attempts[target, default: 0] }

    /// True once `limit` actions did not bring the target back: act no more.
    public func isExhausted(_ target: TargetKey) -> Bool { attempts(for: target) >= limit }

    /// Records an action on the target; returns the count including this one.
    @discardableResult
    public mutating func recordAttempt(_ target: TargetKey) -> Int {
        attempts[target, default: 0] += 1
        return attempts[target]!
    }

    /// Records that the target was seen healthy; returns how many attempts that forgave.
    @discardableResult
    public mutating func recordHealthy(_ target: TargetKey) -> Int {
        attempts.removeValue(forKey: target) ?? 0
    }
}
