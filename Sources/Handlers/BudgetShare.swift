import AutoHealCore

/// Where the acting engine leaves its restart budgets for the others, and where an engine
/// reads the newest ones (so a takeover continues with the same budgets).
public protocol BudgetShare: Sendable {
    /// Leaves a snapshot, in the background; a failure never delays healing.
    func publish(_ snapshot: BudgetSnapshot)
    /// The newest snapshot read so far, if any.
    func latest() async -> BudgetSnapshot?
}
