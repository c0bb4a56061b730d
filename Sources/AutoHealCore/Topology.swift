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

    /// The state the engines share (see ``SharedStateMessage``): a RabbitMQ stream every
    /// engine reads from its start and then follows, so every pause, exclusion, release and
    /// budget change is seen in the same order by all. Published to through the default exchange.
    public static let stateQueue = "cloud-auto-heal.state"
    /// What the stream keeps: its oldest segments go past this size (checkpoints carry what
    /// is still in force forward).
    public static let stateRetentionBytes = 64 << 20
    public static let stateSegmentBytes = 4 << 20

    /// The scope whose queue has this name, if any.
    public static func scope(ofQueue name: String) -> Scope? {
        Scope.allCases.first { queue(for: $0) == name }
    }
}
