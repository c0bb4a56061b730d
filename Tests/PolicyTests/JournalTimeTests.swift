import Foundation
import GRDB
import Testing

@testable import Journal

/// The journal writes its times itself (GRDB's conversion goes through an ICU formatter, too
/// slow for every handled request); rows written either way must read back and compare the same.
@Suite("Journal times")
struct JournalTimeTests {
    @Test func writesWhatGRDBWrites() {
        var generator = SystemRandomNumberGenerator()
        var dates = [
            Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: -0.001), Date(timeIntervalSince1970: 1_800_000_000.25),
            Date(timeIntervalSince1970: 188_382_609_640.15), Date(timeIntervalSince1970: 951_782_400),
        ]
        for _ in 0..<5_000 {
            dates.append(Date(timeIntervalSince1970: Double.random(in: 0...4_000_000_000, using: &generator)))
        }
        for date in dates {
            #expect(DecisionJournal.databaseTime(date) == String.fromDatabaseValue(date.databaseValue), "\(date.timeIntervalSince1970)")
        }
    }

    /// A decision's time is written by the journal too, not by GRDB's `DateFormatter` (which
    /// loads ICU into the engine). The two differ only before the Gregorian reform (GRDB's
    /// formatter counts those days by the Julian calendar), so such a time tells them apart.
    @Test func decisionsAreWrittenWithTheJournalsOwnTimes() throws {
        let date = Date(timeIntervalSince1970: -30_610_224_000.5)  // 1000-01-01, proleptic Gregorian
        let entry = JournalEntry(time: date, host: "h", target: "t", seen: "s", decision: .act, reason: "r")
        let written = try entry.databaseDictionary["time"]
        #expect(written == DecisionJournal.databaseTime(date).databaseValue)
        #expect(written != date.databaseValue, "GRDB's own formatter would have written the same text")
    }
}
