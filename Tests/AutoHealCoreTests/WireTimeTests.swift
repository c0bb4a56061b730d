import Foundation
import Testing

@testable import AutoHealCore

@Suite("Wire times")
struct WireTimeTests {
    /// What the envelope wrote and read before the hand-written path.
    static let general = Date.ISO8601FormatStyle.iso8601.year().month().day().dateSeparator(.dash)
        .time(includingFractionalSeconds: true).timeSeparator(.colon).timeZone(separator: .omitted)

    @Test func writesWhatTheGeneralFormatterWrites() {
        var generator = SystemRandomNumberGenerator()
        var dates = [
            Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: -0.001), Date(timeIntervalSince1970: 1_800_000_000.25),
            Date(timeIntervalSinceReferenceDate: 0), Date(timeIntervalSinceReferenceDate: -0.0005),
            Date(timeIntervalSince1970: 951_782_400),  // 2000-02-29
            Date(timeIntervalSince1970: 253_402_300_799.999),  // 9999-12-31T23:59:59.999Z
            Date(timeIntervalSince1970: -12_212_553_600),  // 1583-01-01, where the calendars agree
        ]
        for _ in 0..<20_000 {
            dates.append(Date(timeIntervalSince1970: Double.random(in: -12_212_553_600...253_000_000_000, using: &generator)))
            dates.append(Date(timeIntervalSince1970: Double.random(in: 1_700_000_000...1_900_000_000, using: &generator)))
        }
        for date in dates {
            #expect(WireTime.format(date) == date.formatted(Self.general), "\(date.timeIntervalSinceReferenceDate)")
        }
        // Outside the years 0000–9999 (no text read from the wire is): the nearest end.
        #expect(WireTime.format(Date(timeIntervalSince1970: 300_000_000_000)) == "9999-12-31T23:59:59.999Z")
        #expect(WireTime.format(Date(timeIntervalSince1970: -70_000_000_000)) == "0000-01-01T00:00:00.000Z")
        #expect(WireTime.format(Date(timeIntervalSinceReferenceDate: .nan)) == "0000-01-01T00:00:00.000Z")
    }

    /// Foundation's reading, where both calendars agree (from 1583 on).
    static func foundation(_ text: String) -> Date? {
        (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
            ?? (try? Date.ISO8601FormatStyle().parse(text))
    }

    @Test func readsWhatTheGeneralParserReads() throws {
        var generator = SystemRandomNumberGenerator()
        var texts = [
            "2026-11-22T03:00:00Z", "2026-11-22T03:00:00.250Z", "2000-02-29T23:59:59.999Z", "1969-12-31T23:59:59.9Z",
            "2026-11-22T03:00:00+02:00", "2026-11-22T03:00:00.5-02:30", "2026-11-22T03:00:00+0200", "2026-11-22T03:00:00+02",
            "2026-11-22T03:00:00-00:00", "2026-11-22T03:00:00+14:00", "1583-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z",
        ]
        let offsets = ["Z", "+00:00", "+01:00", "-05:00", "+05:30", "-09:45", "+1245", "-0330", "+14", "-11"]
        for _ in 0..<20_000 {
            let date = Date(timeIntervalSince1970: Double.random(in: -12_000_000_000...253_000_000_000, using: &generator))
            let text = date.formatted(Self.general)
            texts.append(text)
            texts.append(String(text.dropLast(5)) + offsets.randomElement(using: &generator)!)  // no fraction
            texts.append(String(text.dropLast(1)) + offsets.randomElement(using: &generator)!)
        }
        // The same instant, to within a microsecond: the two add the fraction to the seconds in
        // their own order, and a Double's last bit can differ (in one CI run, one of the 60,000
        // random texts: 2000-11-13T08:19:45.519-09:45, 1 ulp apart).
        for text in texts where text >= "1583" {
            let expected = try #require(Self.foundation(text), "\(text)")
            let parsed = try #require(WireTime.parse(text), "\(text)")
            #expect(abs(parsed.timeIntervalSince(expected)) < 1e-6, "\(text)")
        }
    }

    @Test func yearsBeforeTheGregorianReformAreCountedByItsRules() throws {
        // ISO 8601's calendar, not Foundation's Julian one: 1582-10-10 exists, 1500-02-29 does not.
        #expect(WireTime.parse("1582-10-14T00:00:00Z") == Date(timeIntervalSince1970: -12_219_379_200))
        #expect(WireTime.parse("1582-10-15T00:00:00Z") == Date(timeIntervalSince1970: -12_219_292_800))
        #expect(WireTime.parse("1500-02-29T00:00:00Z") == nil)
        #expect(WireTime.parse("1600-02-29T00:00:00Z") != nil)
        #expect(WireTime.parse("0000-01-01T00:00:00Z") == Date(timeIntervalSince1970: -62_167_219_200))
        #expect(WireTime.format(Date(timeIntervalSince1970: -62_167_219_200)) == "0000-01-01T00:00:00.000Z")
        // What is written is read back, for any time of years 0000–9999 (the milliseconds to
        // within a Double's precision: format truncates, as Foundation does).
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let seconds = Int64.random(in: -62_167_219_200..<253_402_300_800, using: &generator)
            let milliseconds = Int.random(in: 0..<1000, using: &generator)
            let text = WireTime.text(secondsSince1970: seconds, milliseconds: milliseconds)
            let read = try #require(WireTime.parse(text), "\(text)")
            #expect(abs(read.timeIntervalSince1970 - (Double(seconds) + Double(milliseconds) / 1000)) < 0.0001, "\(text)")
            #expect(WireTime.format(Date(timeIntervalSince1970: Double(seconds))) == String(text.dropLast(4)) + "000Z")
        }
    }

    @Test(arguments: [
        "2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-11-22T24:00:00Z", "2026-11-22T03:60:00Z",
        "2026-11-22T03:00:60Z", "2026-11-22T03:00:00.Z", "2026-11-22T03:00:00.1234567890Z", "2026-11-22 03:00:00Z",
        "2026-11-22t03:00:00z", "2026-11-22T03:00:00", "2026-11-22T03:00:00.5", "2026-11-22T03:00:00Zjunk",
        "2026-11-22T03:00:00Z ", " 2026-11-22T03:00:00Z", "2026-11-22T03:00:00GMT", "2026-11-22T03:00:00+2:00",
        "2026-11-22T03:00:00+02:60", "2026-11-22T03:00:00+18:01", "2026-11-22T03:00:00+02:00:00", "2026-1-22T03:00:00Z",
        "+2026-11-22T03:00:00Z", "12026-11-22T03:00:00Z", "20261122T030000Z", "2026-11-22T03:00Z", "2026-11-22T03:00:0xZ",
        "2026-11-22T03:00:00+", "2026-11-22T03:00:00+0", "2026-11-22T03:00:00+02:0", "yesterday", "",
    ])
    func anythingElseIsRefused(text: String) {
        // Foundation reads some of these its own way (a day or minute later, the zone's tail
        // ignored); wire times are written by programs, and a bad one is an error.
        #expect(WireTime.parse(text) == nil)
    }

    @Test func calendarDaysRoundTrip() {
        // Every 97th day from 0000 to 9999, written (gmtime_r) and read back (by hand).
        for days in stride(from: Int64(-719_528), through: 2_932_896, by: 97) {
            let seconds = days * 86_400 + 45_296
            let text = WireTime.text(secondsSince1970: seconds, milliseconds: 0)
            #expect(WireTime.parse(text) == Date(timeIntervalSince1970: Double(seconds)), "\(text)")
        }
    }
}
