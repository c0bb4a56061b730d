/// The conversions of `Duration` the project needs, in one place.
extension Duration {
    /// Seconds as a `Double` (for SQLite, APIs that take `TimeInterval`, and figures).
    public var timeInterval: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// Whole milliseconds, clamped to `Int32` (for C APIs that take milliseconds).
    public var wholeMilliseconds: Int32 { Int32(clamping: components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000) }

    /// The duration in whole nanoseconds (saturating).
    public var nanoseconds: Int64 {
        let (s, atto) = components
        let (ns, overflow) = s.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : ns &+ atto / 1_000_000_000
    }

    /// Seconds with millisecond precision, as log lines show durations: `1.204s`.
    public var logDescription: String {
        let ms = components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
        let fraction = String(ms % 1000)
        return "\(ms / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)s"
    }
}
