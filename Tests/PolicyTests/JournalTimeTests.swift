import Foundation
import Testing

@testable import Journal

/// The journal writes and reads its times itself, in the text GRDB wrote for a `Date` when the
/// journal went through GRDB: rows written before and after must read back and compare the same.
@Suite("Journal times")
struct JournalTimeTests {
    /// Texts GRDB's formatter wrote for these times (compared with GRDB itself, 5,000 random
    /// times a run, until the journal left GRDB).
    @Test func writesWhatGRDBWrote() {
        let known: [(Double, String)] = [
            (0, "1970-01-01 00:00:00.000"), (-0.001, "1969-12-31 23:59:59.999"),
            (1_764_720_000.25, "2025-12-03 00:00:00.250"), (1_800_000_000.25, "2027-01-15 08:00:00.250"),
            (951_782_400, "2000-02-29 00:00:00.000"), (1_764_720_000.0005, "2025-12-03 00:00:00.001"),
        ]
        for (seconds, text) in known {
            #expect(DecisionJournal.databaseTime(Date(timeIntervalSince1970: seconds)) == text, "\(seconds)")
        }
    }

    @Test func readsBackWhatItWrites() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5_000 {
            let date = Date(timeIntervalSince1970: Double.random(in: 0...4_000_000_000, using: &generator))
            let read = DecisionJournal.time(fromDatabase: DecisionJournal.databaseTime(date))
            #expect(read.map { abs($0.timeIntervalSince(date)) <= 0.0005 + 1e-6 } == true, "\(date.timeIntervalSince1970)")
        }
        for bad in ["", "2025-12-03", "2025-12-03T00:00:00.250", "2025-12-03 00:00:00.250Z", "2025-13-03 00:00:00.250"] {
            #expect(DecisionJournal.time(fromDatabase: bad) == nil, "\(bad)")
        }
    }
}
