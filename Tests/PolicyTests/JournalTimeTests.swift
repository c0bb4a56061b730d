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
}
