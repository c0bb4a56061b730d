import FoundationEssentials
import Glibc

/// The times of messages and logs: ISO 8601 in UTC with milliseconds,
/// `2026-11-22T03:00:00.250Z`; and the one writer of UTC times by hand, which the journal's
/// `yyyy-MM-dd HH:mm:ss.SSS` also uses.
///
/// Written and read by hand, never through Foundation's formatters: every request the monitor
/// publishes and the engine reads carries two of them, `Date.ISO8601FormatStyle` goes through
/// a calendar each time, and it loads ICU's time-zone data (about 4 MB of RSS, for the life of
/// the process) on any text it is given that is not the plain UTC form, garbage included. The
/// calendar is ISO 8601's: the Gregorian one for every year 0000–9999, as RFC 3339 says
/// (Foundation counts days before 15 October 1582 by the Julian calendar; from 1583 on the two
/// agree, and the tests compare them).
public enum WireTime {
    /// UTC with milliseconds, the fraction truncated: `2026-11-22T03:00:00.250Z`. A date
    /// outside the years 0000–9999 (none comes from the wire) is written as the nearest end,
    /// and NaN as the first.
    public static func format(_ date: Date) -> String {
        // Whole seconds and the fraction apart, as Foundation's calendar splits them (so the
        // milliseconds written are the ones it wrote: 40.15 is 40.149999… and reads .149).
        let interval = date.timeIntervalSinceReferenceDate
        let whole = interval.rounded(.down)
        guard whole >= firstSecond else { return text(secondsSince1970: firstSecond1970, milliseconds: 0) }
        guard whole < endSecond else { return text(secondsSince1970: endSecond1970 - 1, milliseconds: 999) }
        let milliseconds = min(Int((interval - whole) * 1_000_000_000) / 1_000_000, 999)
        return text(secondsSince1970: Int64(whole) + referenceDate, milliseconds: milliseconds)
    }

    /// Reads an RFC 3339 time: `YYYY-MM-DDTHH:MM:SS`, a fraction of 1–9 digits or none, then
    /// `Z` or an offset `±HH:MM`, `±HHMM` or `±HH` (at most 18 hours); nil for anything else.
    /// Stricter than Foundation, which reads 29 February 2026 as 1 March, 24:00 and second 60
    /// as the next day or minute, and ignores what follows the zone.
    public static func parse(_ text: String) -> Date? {
        var text = text
        return text.withUTF8 { parse(bytes: $0) }
    }

    private static func parse(bytes b: UnsafeBufferPointer<UInt8>) -> Date? {
        guard b.count >= 20, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54, b[13] == 0x3A, b[16] == 0x3A,
            let year = number(b, 0, 4), let month = number(b, 5, 2), let day = number(b, 8, 2),
            let hour = number(b, 11, 2), let minute = number(b, 14, 2), let second = number(b, 17, 2),
            (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
            hour < 24, minute < 60, second < 60
        else { return nil }
        var at = 19
        var fraction = 0.0
        if b[at] == 0x2E {
            // A dot and 1–9 digits.
            var end = at + 1
            while end < b.count, end - at <= 10, (0x30...0x39).contains(b[end]) { end += 1 }
            let digits = end - at - 1
            guard (1...9).contains(digits), let value = number(b, at + 1, digits) else { return nil }
            fraction = Double(value) / pow(10, Double(digits))
            at = end
        }
        guard at < b.count, let offset = zoneOffset(b, from: at) else { return nil }
        let seconds =
            daysSince1970(year: year, month: month, day: day) * 86_400
            + Int64(hour * 3_600 + minute * 60 + second) - offset - referenceDate
        return Date(timeIntervalSinceReferenceDate: Double(seconds) + fraction)
    }

    /// `Z`, `±HH:MM`, `±HHMM` or `±HH` from `start` to the end of the text, in seconds east of
    /// UTC; nil for anything else.
    private static func zoneOffset(_ b: UnsafeBufferPointer<UInt8>, from start: Int) -> Int64? {
        let length = b.count - start
        if length == 1, b[start] == 0x5A { return 0 }
        guard b[start] == 0x2B || b[start] == 0x2D, let hours = length >= 3 ? number(b, start + 1, 2) : nil else { return nil }
        let minutes: Int?
        switch length {
        case 3: minutes = 0
        case 5: minutes = number(b, start + 3, 2)
        case 6: minutes = b[start + 3] == 0x3A ? number(b, start + 4, 2) : nil
        default: minutes = nil
        }
        guard let minutes, minutes < 60, hours * 60 + minutes <= 18 * 60 else { return nil }
        let seconds = Int64(hours * 3_600 + minutes * 60)
        return b[start] == 0x2D ? -seconds : seconds
    }

    /// Days from 1970-01-01 to a date of the Gregorian calendar, for any year (the civil-days
    /// arithmetic: years counted from March, so the leap day comes last).
    static func daysSince1970(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = Int64((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1)
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// `YYYY-MM-DD`, `separator`, `HH:MM:SS.mmm`, `suffix`, in UTC (years 0–9999).
    public static func text(
        secondsSince1970: Int64, milliseconds: Int, separator: Character = "T", suffix: String = "Z"
    ) -> String {
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

    /// 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z, in seconds since 1970 and since 2001:
    /// the years this type writes and reads.
    private static let firstSecond1970: Int64 = -62_167_219_200
    private static let endSecond1970: Int64 = 253_402_300_800
    private static let firstSecond = Double(firstSecond1970 - referenceDate)
    private static let endSecond = Double(endSecond1970 - referenceDate)

    private static func number(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ count: Int) -> Int? {
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
