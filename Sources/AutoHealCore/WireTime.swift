import Foundation

/// The times of messages and logs: ISO 8601 in UTC with milliseconds,
/// `2026-11-22T03:00:00.250Z`; and the one writer of UTC times by hand, which the journal's
/// `yyyy-MM-dd HH:mm:ss.SSS` also uses.
///
/// Written and read by hand for the common form: every request the monitor publishes and
/// the engine reads carries two of them, and `Date.ISO8601FormatStyle` goes through a
/// calendar each time (a quarter of the cost of encoding an envelope). The calendar is
/// libc's (`gmtime_r`, `timegm`). Anything else (an offset such as `+02:00`, a year outside
/// 1600–9999: Foundation counts days before the Gregorian reform of 1582 by the Julian
/// calendar) goes to `ISO8601FormatStyle`, so what is accepted and what it means is the same
/// as before.
public enum WireTime {
    /// UTC with milliseconds, the fraction truncated: `2026-11-22T03:00:00.250Z`.
    public static func format(_ date: Date) -> String {
        // Whole seconds and the fraction apart, as Foundation's calendar splits them (so the
        // milliseconds written are the ones it wrote: 40.15 is 40.149999… and reads .149).
        let interval = date.timeIntervalSinceReferenceDate
        let whole = interval.rounded(.down)
        // 1600-01-01 to 9999-12-31; outside that (and NaN), the general formatter.
        guard whole >= -12_654_403_200, whole < 252_423_993_600 else { return date.formatted(style) }
        let milliseconds = min(Int((interval - whole) * 1_000_000_000) / 1_000_000, 999)
        return text(secondsSince1970: Int64(whole) + referenceDate, milliseconds: milliseconds, separator: "T", suffix: "Z")
    }

    /// Reads an ISO 8601 time with or without fractional seconds; nil when it is not one.
    public static func parse(_ text: String) -> Date? {
        if let date = parseUTC(Array(text.utf8)) { return date }
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
        return try? Date.ISO8601FormatStyle().parse(text)
    }

    /// `YYYY-MM-DD`, `separator`, `HH:MM:SS.mmm`, `suffix`, in UTC (years 0–9999).
    public static func text(secondsSince1970: Int64, milliseconds: Int, separator: Character, suffix: String) -> String {
        var seconds = time_t(secondsSince1970)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var out = [UInt8](repeating: 0, count: 23)
        put(&out, 0, Int(parts.tm_year) + 1900, digits: 4)
        out[4] = UInt8(ascii: "-")
        put(&out, 5, Int(parts.tm_mon) + 1, digits: 2)
        out[7] = UInt8(ascii: "-")
        put(&out, 8, Int(parts.tm_mday), digits: 2)
        out[10] = separator.asciiValue ?? UInt8(ascii: " ")
        put(&out, 11, Int(parts.tm_hour), digits: 2)
        out[13] = UInt8(ascii: ":")
        put(&out, 14, Int(parts.tm_min), digits: 2)
        out[16] = UInt8(ascii: ":")
        put(&out, 17, Int(parts.tm_sec), digits: 2)
        out[19] = UInt8(ascii: ".")
        put(&out, 20, milliseconds, digits: 3)
        out.append(contentsOf: suffix.utf8)
        return String(decoding: out, as: UTF8.self)
    }

    /// 2001-01-01T00:00:00Z, `Date`'s reference, in seconds since 1970.
    private static let referenceDate: Int64 = 978_307_200

    private static let style = Date.ISO8601FormatStyle.iso8601.year().month().day().dateSeparator(.dash)
        .time(includingFractionalSeconds: true).timeSeparator(.colon).timeZone(separator: .omitted)

    /// `YYYY-MM-DDTHH:MM:SS[.f…]Z` with every field in range; nil for any other text (which
    /// ``parse(_:)`` hands to the general parser).
    static func parseUTC(_ b: [UInt8]) -> Date? {
        guard b.count >= 20, b.count <= 30, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54, b[13] == 0x3A, b[16] == 0x3A,
            b[b.count - 1] == 0x5A,
            let year = number(b, 0, 4), let month = number(b, 5, 2), let day = number(b, 8, 2),
            let hour = number(b, 11, 2), let minute = number(b, 14, 2), let second = number(b, 17, 2),
            year >= 1600, (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
            hour < 24, minute < 60, second < 60
        else { return nil }
        var fraction = 0.0
        if b.count > 20 {
            // A dot and 1–9 digits before the Z.
            let digits = b.count - 21
            guard b[19] == 0x2E, (1...9).contains(digits), let value = number(b, 20, digits) else { return nil }
            fraction = Double(value) / pow(10, Double(digits))
        } else if b[19] != 0x5A {
            return nil
        }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let seconds = Int64(timegm(&parts)) - referenceDate
        return Date(timeIntervalSinceReferenceDate: Double(seconds) + fraction)
    }

    private static func number(_ b: [UInt8], _ start: Int, _ count: Int) -> Int? {
        var value = 0
        for i in start..<start + count {
            let digit = Int(b[i]) - 0x30
            guard (0...9).contains(digit) else { return nil }
            value = value * 10 + digit
        }
        return value
    }

    /// Writes `value` as `digits` decimal digits, zero-padded, from `start`.
    private static func put(_ text: inout [UInt8], _ start: Int, _ value: Int, digits: Int) {
        var rest = value
        for i in stride(from: start + digits - 1, through: start, by: -1) {
            text[i] = UInt8(0x30 + rest % 10)
            rest /= 10
        }
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
