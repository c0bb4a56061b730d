/// The conversions of `Duration` the project needs, in one place.
extension Duration {
    /// Seconds as a `Double` (for SQLite, APIs that take `TimeInterval`, and figures).
    public var timeInterval: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// Whole milliseconds, clamped to `Int32` (for C APIs that take milliseconds).
    public var wholeMilliseconds: Int32 { Int32(clamping: millisecondsSaturating) }

    /// Whole milliseconds, saturating at the ends of `Int64` instead of trapping.
    var millisecondsSaturating: Int64 {
        let (ms, overflow) = components.seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return components.seconds < 0 ? .min : .max }
        let (sum, overflow2) = ms.addingReportingOverflow(components.attoseconds / 1_000_000_000_000_000)
        return overflow2 ? (ms < 0 ? .min : .max) : sum
    }

    /// The duration in whole nanoseconds (saturating).
    public var nanoseconds: Int64 {
        let (s, atto) = components
        let (ns, overflow) = s.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return s < 0 ? .min : .max }
        let (sum, overflow2) = ns.addingReportingOverflow(atto / 1_000_000_000)
        return overflow2 ? .max : sum
    }

    /// Seconds with millisecond precision, as log lines show durations: `1.204s`.
    public var logDescription: String {
        let ms = millisecondsSaturating
        let sign = ms < 0 ? "-" : ""
        let fraction = String(ms.magnitude % 1000)
        return "\(sign)\(ms.magnitude / 1000).\(String(repeating: "0", count: max(0, 3 - fraction.count)))\(fraction)s"
    }
}
