import Foundation

/// The times of messages and logs: ISO 8601 in UTC with milliseconds,
/// `2026-11-22T03:00:00.250Z`.
///
/// Written and read by hand for the common form: every request the monitor publishes and
/// the engine reads carries two of them, and `Date.ISO8601FormatStyle` goes through a
/// calendar each time (a quarter of the cost of encoding an envelope). Anything else (an
/// offset such as `+02:00`, a year outside 1600–9999: Foundation counts days before the
/// Gregorian reform of 1582 by the Julian calendar) goes to `ISO8601FormatStyle`, so what is
/// accepted and what it means is the same as before.
public enum WireTime {
    /// UTC with milliseconds, the fraction truncated: `2026-11-22T03:00:00.250Z`.
    public static func format(_ date: Date) -> String {
        // Whole seconds and the fraction apart, as Foundation's calendar splits them (so the
        // milliseconds written are the ones it wrote: 40.15 is 40.149999… and reads .149).
        let interval = date.timeIntervalSinceReferenceDate
        let whole = interval.rounded(.down)
        // 1600-01-01 to 9999-12-31; outside that (and NaN), the general formatter.
        guard whole >= -12_654_403_200, whole < 252_423_993_600 else { return date.formatted(style) }
        let milliseconds = min(Int64((interval - whole) * 1_000_000_000) / 1_000_000, 999)
        let total = (Int64(whole) + referenceDateMilliseconds / 1000) * 1000 + milliseconds
        let (days, inDay) = floorDivision(total, 86_400_000)
        let (year, month, day) = civil(fromDays: days)
        let seconds = Int(inDay / 1000)
        var text = [UInt8](repeating: 0, count: 24)
        put(&text, 0, year, digits: 4)
        text[4] = UInt8(ascii: "-")
        put(&text, 5, month, digits: 2)
        text[7] = UInt8(ascii: "-")
        put(&text, 8, day, digits: 2)
        text[10] = UInt8(ascii: "T")
        put(&text, 11, seconds / 3600, digits: 2)
        text[13] = UInt8(ascii: ":")
        put(&text, 14, seconds / 60 % 60, digits: 2)
        text[16] = UInt8(ascii: ":")
        put(&text, 17, seconds % 60, digits: 2)
        text[19] = UInt8(ascii: ".")
        put(&text, 20, Int(inDay % 1000), digits: 3)
        text[23] = UInt8(ascii: "Z")
        return String(decoding: text, as: UTF8.self)
    }

    /// Reads an ISO 8601 time with or without fractional seconds; nil when it is not one.
    public static func parse(_ text: String) -> Date? {
        if let date = parseUTC(Array(text.utf8)) { return date }
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
        return try? Date.ISO8601FormatStyle().parse(text)
    }

    /// 2001-01-01T00:00:00Z, `Date`'s reference, in milliseconds since 1970.
    private static let referenceDateMilliseconds: Int64 = 978_307_200_000

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
        let days = Self.days(fromCivil: year, month, day)
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second) - referenceDateMilliseconds / 1000
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

    private static func floorDivision(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let q = a / b
        let r = a % b
        return r < 0 ? (q - 1, r + b) : (q, r)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    // Days since 1970-01-01 to and from the proleptic Gregorian calendar, after Howard
    // Hinnant's `days_from_civil` / `civil_from_days` (eras of 400 years, March first).

    static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = Int64((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1)
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civil(fromDays days: Int64) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shifted = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * shifted + 2) / 5 + 1)
        let month = Int(shifted < 10 ? shifted + 3 : shifted - 9)
        let year = Int(yearOfEra + era * 400) + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }
}
