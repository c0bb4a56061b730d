import AutoHealCore
import Foundation
import Testing

/// The rules of the state the engines share, message by message, as the stream delivers them.
@Suite("Shared state")
struct SharedStateTests {
    static let limits = RestartBudget.Limits(backoffInitial: 10, backoffMax: 300, healthyReset: 600, maxAttempts: 3, attemptWindow: 1800)
    static let api = TargetKey(host: "10.0.0.11", container: "nova_api")
    static let scheduler = TargetKey(host: "10.0.0.11", container: "nova_scheduler")

    /// A stream of messages applied in order from offset 0.
    struct Stream {
        var state = SharedState(identity: "engine-a", limits: SharedStateTests.limits)
        var next: Int64 = 0
        var effects: [SharedState.Effect] = []

        mutating func append(_ message: SharedStateMessage, now: Date = Date()) { append(message.encoded(), now: now) }

        mutating func append(_ body: [UInt8], now: Date = Date()) {
            effects += state.apply(body, offset: next, now: now)
            next += 1
        }

        var ignored: [String] { effects.compactMap { if case .ignored(let why) = $0 { why } else { nil } } }
    }

    static func pause(_ paused: Bool, target: TargetKey? = nil, at: Date = Date(), until: Date? = nil) -> SharedStateMessage {
        .pause(PauseNotice(paused: paused, until: until, reason: "r", by: "op", at: at, target: target))
    }

    static func entry(
        _ target: TargetKey, version: Int, by: String = "engine-b", basis: Int64 = 0, quarantined: Bool = false,
        actions: [Date] = [Date(timeIntervalSinceNow: -60)], at: Date = Date()
    ) -> BudgetEntry {
        BudgetEntry(
            key: target, record: RestartBudget.Record(actions: actions, quarantined: quarantined),
            stamp: BudgetStamp(version: version, by: by, basis: basis), at: at)
    }

    @Test func everyNoticeCountsAndTheLastOneInTheStreamWins() {
        var s = Stream()
        for i in 0..<200 {
            let target = TargetKey(host: "10.0.0.\(i % 7)", container: "nova_api")
            s.append(Self.pause(i % 2 == 0, target: i % 3 == 0 ? nil : target))
        }
        s.append(Self.pause(false))  // whatever came before, healing runs now
        #expect(s.state.pauseReason(for: [Self.api], now: Date()) == nil)
        s.append(Self.pause(true))
        #expect(s.state.pauseReason(for: [Self.api], now: Date())?.contains("paused by op") == true)
        s.append(Self.pause(false))
        #expect(s.state.pauseReason(for: [Self.api], now: Date()) == nil)
        #expect(s.ignored.isEmpty)
    }

    @Test func theStreamOrderDecidesNotTheClocksOfTwoOperators() {
        var s = Stream()
        // An operator whose clock runs behind resumes after another paused: the resume is later in the stream.
        s.append(Self.pause(true, at: Date()))
        s.append(Self.pause(false, at: Date(timeIntervalSinceNow: -120)))
        #expect(s.state.pauseReason(for: [], now: Date()) == nil)
    }

    @Test func anExclusionCoversItsTargetOnlyAndExpires() {
        var s = Stream()
        s.append(Self.pause(true, target: Self.api, until: Date(timeIntervalSinceNow: 60)))
        #expect(s.state.pauseReason(for: [Self.api], now: Date())?.contains("excluded") == true)
        #expect(s.state.pauseReason(for: [Self.scheduler], now: Date()) == nil)
        #expect(s.state.pauseReason(for: [Self.api], now: Date(timeIntervalSinceNow: 61)) == nil)
    }

    @Test func aReleaseLiftsOnlyABudgetChangedBeforeIt() {
        var s = Stream()
        s.append(.budget(Self.entry(Self.api, version: 1, basis: 0, quarantined: true)))  // offset 0
        s.append(.budget(Self.entry(Self.scheduler, version: 2, basis: 5, quarantined: true)))  // its writer had read offset 5
        s.append(.pause(PauseNotice(paused: false, until: nil, reason: "", by: "op", target: Self.api, release: true)))  // offset 2
        s.append(.pause(PauseNotice(paused: false, until: nil, reason: "", by: "op", target: Self.scheduler, release: true)))  // offset 3
        #expect(!s.state.budget.isQuarantined(Self.api))  // quarantined before the release (basis 0 < 2)
        #expect(s.state.budget.isQuarantined(Self.scheduler))  // its writer had read up to 5: the release at 3 is older
        #expect(s.effects.contains(.released(Self.api, hadBudget: true)))
        // A quarantine from an engine that had not read the release yet is lifted on arrival.
        s.append(.budget(Self.entry(Self.api, version: 3, basis: 1, quarantined: true)))
        #expect(!s.state.budget.isQuarantined(Self.api))
    }

    @Test func budgetsMergePerTargetByVersionNeverWholesale() {
        var s = Stream()
        let mine = s.state.recordAction(Self.api, now: Date())  // version 1 by engine-a
        #expect(mine?.version == 1)
        s.append(.budget(Self.entry(Self.scheduler, version: 5, quarantined: true)))
        #expect(s.state.budget.record(for: Self.api)?.actions.count == 1)  // untouched by another target's entry
        s.append(.budget(Self.entry(Self.api, version: 1, by: "engine-0")))  // same version, lesser writer: older
        #expect(s.state.stamps[Self.api]?.by == "engine-a")
        let next = s.state.recordAction(Self.api, now: Date())
        #expect(next?.version == 6)  // one more than any version seen
        s.append(.budget(Self.entry(Self.api, version: 7, quarantined: true)))
        #expect(s.state.budget.isQuarantined(Self.api))
    }

    @Test func aMessageFromAClockAheadIsIgnoredOnceAndKeepsTheBudgets() {
        var s = Stream()
        s.append(.budget(Self.entry(Self.api, version: 1, quarantined: true)))
        let ahead = Date(timeIntervalSinceNow: 86_400)
        s.append(.budget(Self.entry(Self.api, version: 9, actions: [ahead], at: ahead)))
        s.append(.checkpoint(StateCheckpoint(by: "engine-b", at: ahead, offset: 1, pauses: [], releases: [], budgets: [])))
        s.append(Self.pause(true, at: ahead))
        #expect(s.ignored.count == 3)
        #expect(s.ignored.allSatisfy { $0.contains("ahead of this host's clock") })
        #expect(s.state.budget.isQuarantined(Self.api))
        #expect(s.state.pauseReason(for: [], now: Date()) == nil)
        // An action time ahead within the tolerance is taken (two clocks a few seconds apart).
        s.append(.budget(Self.entry(Self.scheduler, version: 10, actions: [Date(timeIntervalSinceNow: 5)])))
        #expect(s.state.budget.record(for: Self.scheduler) != nil)
    }

    @Test func aCheckpointNamingATargetTwiceIsIgnored() {
        var s = Stream()
        s.append(.budget(Self.entry(Self.api, version: 1, quarantined: true)))
        let twice = StateCheckpoint(
            by: "engine-b", at: Date(), offset: 0, pauses: [], releases: [],
            budgets: [Self.entry(Self.api, version: 8), Self.entry(Self.api, version: 9)])
        s.append(.checkpoint(twice))
        #expect(s.ignored.count == 1 && s.ignored[0].contains("twice"))
        #expect(s.state.budget.isQuarantined(Self.api))
    }

    @Test func malformedMessagesAreIgnoredNeverACrash() {
        var s = Stream()
        let bodies: [String] = [
            "", "not json", "[1,2]", "{}", "{\"kind\":\"budget\"}", "{\"kind\":\"nonsense\"}", "{\"paused\":\"yes\",\"at\":\"x\"}",
            "{\"kind\":\"budget\",\"host\":\"h\",\"target\":\"t\",\"version\":-1,\"by\":\"b\",\"at\":\"2026-01-01T00:00:00Z\",\"actions\":[],\"quarantined\":false}",
            "{\"kind\":\"budget\",\"host\":\"h\",\"target\":\"t\",\"version\":1,\"by\":\"b\",\"at\":\"2026-01-01T00:00:00Z\",\"actions\":[1e308],\"quarantined\":false}",
            "{\"kind\":\"budget\",\"host\":\"h\",\"target\":\"t\",\"version\":99999999999999999999,\"by\":\"b\",\"at\":\"2026-01-01T00:00:00Z\",\"actions\":[],\"quarantined\":false}",
            "{\"kind\":\"checkpoint\",\"by\":\"b\",\"at\":\"2026-01-01T00:00:00Z\",\"offset\":1,\"pauses\":{},\"releases\":[],\"budgets\":[]}",
            "{\"kind\":\"release\",\"paused\":false,\"by\":\"op\",\"at\":\"2026-01-01T00:00:00Z\"}",
        ]
        for body in bodies { s.append(Array(body.utf8)) }
        s.append([0xff, 0xfe, 0x00])
        #expect(s.ignored.count == bodies.count + 1, "\(s.ignored)")
        #expect(s.state.budget.allRecords.isEmpty && s.state.pauses.isEmpty)
    }

    @Test func aCheckpointCarriesTheStateForwardAndNeverUndoesNewerMessages() {
        var a = Stream()
        a.append(Self.pause(true, target: Self.api))
        _ = a.state.recordAction(Self.scheduler, now: Date())
        a.append(.pause(PauseNotice(paused: false, until: nil, reason: "", by: "op", target: Self.scheduler, release: true)))
        _ = a.state.quarantine(Self.scheduler, now: Date())
        let checkpoint = a.state.checkpoint(now: Date())

        // An engine that only sees the checkpoint (older segments dropped) ends in the same state.
        var b = Stream()
        b.state = SharedState(identity: "engine-b", limits: Self.limits)
        b.next = 10
        b.append(.checkpoint(checkpoint))
        #expect(b.state.pauseReason(for: [Self.api], now: Date()) != nil)
        #expect(b.state.budget.isQuarantined(Self.scheduler))

        // A checkpoint read after a newer notice leaves the newer one in force.
        var c = Stream()
        c.append(Self.pause(true, target: Self.api))  // offset 0, as in a's stream
        c.append(Self.pause(false, target: Self.api))  // a resume at offset 1, newer than the checkpoint's pause
        c.append(.checkpoint(checkpoint))
        #expect(c.state.pauseReason(for: [Self.api], now: Date()) == nil)
    }

    @Test func budgetsFromAStreamThatWasMadeAgainAreMovedToItsEnd() {
        var s = Stream()
        s.state.restore([Self.entry(Self.api, version: 3, by: "engine-a", basis: 5_000, quarantined: true)])
        s.append(.sync(id: "x"))
        s.state.caughtUp(at: 0)
        s.append(.pause(PauseNotice(paused: false, until: nil, reason: "", by: "op", target: Self.api, release: true)))
        #expect(!s.state.budget.isQuarantined(Self.api))
    }
}
