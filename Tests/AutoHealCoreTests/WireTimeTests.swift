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
            Date(timeIntervalSince1970: -62_135_596_800),  // 0001-01-01
        ]
        for _ in 0..<20_000 {
            dates.append(Date(timeIntervalSince1970: Double.random(in: -62_000_000_000...253_000_000_000, using: &generator)))
            dates.append(Date(timeIntervalSince1970: Double.random(in: 1_700_000_000...1_900_000_000, using: &generator)))
        }
        for date in dates {
            #expect(WireTime.format(date) == date.formatted(Self.general), "\(date.timeIntervalSinceReferenceDate)")
        }
        // Outside the fast path's years: the general formatter's own answer.
        let far = Date(timeIntervalSince1970: 300_000_000_000)
        #expect(WireTime.format(far) == far.formatted(Self.general))
    }

    @Test func readsWhatTheGeneralParserReads() throws {
        var generator = SystemRandomNumberGenerator()
        var texts = ["2026-11-22T03:00:00Z", "2026-11-22T03:00:00.250Z", "2000-02-29T23:59:59.999Z", "1969-12-31T23:59:59.9Z"]
        for _ in 0..<20_000 {
            let date = Date(timeIntervalSince1970: Double.random(in: -62_000_000_000...253_000_000_000, using: &generator))
            let text = date.formatted(Self.general)
            texts.append(text)
            texts.append(String(text.dropLast(5)) + "Z")  // no fraction
        }
        for text in texts {
            let expected = try Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)
            // Before 1600 Foundation counts by the Julian calendar: left to it.
            let fast = WireTime.parseUTC(Array(text.utf8))
            #expect(text < "1600" ? fast == nil : fast == expected, "\(text)")
            #expect(WireTime.parse(text) == expected, "\(text)")
        }
    }

    @Test(arguments: [
        "2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-11-22T24:00:00Z", "2026-11-22T03:60:00Z",
        "2026-11-22T03:00:60Z", "2026-11-22T03:00:00.Z", "2026-11-22T03:00:00.1234567890Z", "2026-11-22 03:00:00Z",
        "2026-11-22T03:00:00+02:00", "2026-11-22T03:00:00.5+02:00", "2026-11-22t03:00:00z", "0000-01-01T00:00:00Z",
        "yesterday", "", "2026-11-22T03:00:0xZ",
    ])
    func anythingElseIsReadAsTheGeneralParserReadsIt(text: String) {
        // The fast path takes only the canonical UTC form; the rest falls through unchanged.
        let general =
            (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
            ?? (try? Date.ISO8601FormatStyle().parse(text))
        #expect(WireTime.parse(text) == general)
        if WireTime.parseUTC(Array(text.utf8)) != nil { #expect(general != nil) }
    }

    @Test func calendarDaysRoundTrip() {
        // Every 97th day from 1600 to 9999, written (gmtime_r) and read back (timegm).
        for days in stride(from: Int64(-135_140), through: 2_932_896, by: 97) {
            let seconds = days * 86_400 + 45_296
            let text = WireTime.text(secondsSince1970: seconds, milliseconds: 0, separator: "T", suffix: "Z")
            #expect(WireTime.parseUTC(Array(text.utf8)) == Date(timeIntervalSince1970: Double(seconds)), "\(text)")
        }
    }
}
