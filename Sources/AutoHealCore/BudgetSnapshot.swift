import Foundation

/// Every restart budget record of the engine that acts, as it leaves them on the broker
/// (queue `cloud-auto-heal.budget`) after each change, so an engine that takes over continues
/// with the same budgets and quarantines instead of starting fresh.
public struct BudgetSnapshot: Sendable, Equatable, Codable {
    public struct Entry: Sendable, Equatable, Codable {
        public var host: String
        public var target: String
        public var actions: [Double]
        public var quarantined: Bool
        public var healthySince: Double?
    }

    /// When the snapshot was taken; the newest wins.
    public var at: Date
    /// Which engine took it (host-pid).
    public var by: String
    public var entries: [Entry]

    public init(at: Date = Date(), by: String, records: [TargetKey: RestartBudget.Record]) {
        self.at = at
        self.by = by
        entries = records.sorted { $0.key.description < $1.key.description }.map { target, record in
            Entry(
                host: target.host, target: target.container, actions: record.actions.map(\.timeIntervalSince1970),
                quarantined: record.quarantined, healthySince: record.healthySince?.timeIntervalSince1970)
        }
    }

    public var records: [TargetKey: RestartBudget.Record] {
        Dictionary(uniqueKeysWithValues: entries.map { entry in
            (TargetKey(host: entry.host, container: entry.target),
             RestartBudget.Record(
                actions: entry.actions.map(Date.init(timeIntervalSince1970:)), quarantined: entry.quarantined,
                healthySince: entry.healthySince.map(Date.init(timeIntervalSince1970:))))
        })
    }

    enum CodingKeys: String, CodingKey { case at, by, entries }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        at = Date(timeIntervalSince1970: try c.decode(Double.self, forKey: .at))
        by = try c.decode(String.self, forKey: .by)
        entries = try c.decode([Entry].self, forKey: .entries)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(at.timeIntervalSince1970, forKey: .at)
        try c.encode(by, forKey: .by)
        try c.encode(entries, forKey: .entries)
    }

    public func encoded() -> [UInt8] { Array((try? JSONEncoder().encode(self)) ?? Data()) }

    /// The newest snapshot among message bodies.
    public static func newest(of bodies: [[UInt8]]) -> BudgetSnapshot? {
        bodies.compactMap { try? JSONDecoder().decode(BudgetSnapshot.self, from: Data($0)) }.max { $0.at < $1.at }
    }
}
