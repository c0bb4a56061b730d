/// The broker names, kept compatible with the system Cloud Auto Heal replaces.
///
/// Durable direct exchanges `cloud-auto-heal.control` and `cloud-auto-heal.compute`,
/// durable queues of the same names, bound with routing keys `cloud.auto.heal.control`
/// and `cloud.auto.heal.compute`. Messages that cannot be handled go to the
/// dead-letter exchange and queue with the reason in a header.
public enum Topology {
    public static func exchange(for scope: Scope) -> String { "cloud-auto-heal.\(scope.rawValue)" }
    public static func queue(for scope: Scope) -> String { "cloud-auto-heal.\(scope.rawValue)" }
    public static func routingKey(for scope: Scope) -> String { "cloud.auto.heal.\(scope.rawValue)" }

    /// Fanout exchange and queue for messages the engine refuses.
    public static let deadLetterExchange = "cloud-auto-heal.dead-letter"
    public static let deadLetterQueue = "cloud-auto-heal.dead-letter"
    /// Message header carrying the reason a message was dead-lettered.
    public static let deadLetterReasonHeader = "x-autoheal-reason"

    /// Holds the newest maintenance pause notice (see ``PauseNotice``); engines read it
    /// without consuming it. Published to through the default exchange.
    public static let pauseQueue = "cloud-auto-heal.pause"

    /// Holds the newest restart budgets of the acting engine (see ``BudgetSnapshot``).
    public static let budgetQueue = "cloud-auto-heal.budget"

    /// The scope whose queue has this name, if any.
    public static func scope(ofQueue name: String) -> Scope? {
        Scope.allCases.first { queue(for: $0) == name }
    }
}
