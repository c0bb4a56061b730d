import AutoHealCore

/// Where the acting engine leaves its restart budgets for the others, and where an engine
/// reads the newest ones (so a takeover continues with the same budgets).
public protocol BudgetShare: Sendable {
    /// Leaves a snapshot and waits (briefly) for the broker to confirm it, so no action is
    /// taken that a taking-over engine would not know about. A failure is logged, and
    /// delays healing by at most a few seconds.
    func publish(_ snapshot: BudgetSnapshot) async
    /// The newest snapshot read so far, if any.
    func latest() async -> BudgetSnapshot?
}
