import AMQP
import AutoHealCore
import FoundationEssentials
import Logging
import Messaging
import ServiceLifecycle

/// The monitor's long-running service: publishes each payload whose period is not 0 to
/// the exchange of each of its scopes, at start and then every period.
///
/// Each message is a persistent envelope that expires after one period (a sweep that
/// waited longer than that is stale), published with publisher confirms. A publish that
/// the broker does not confirm within the period is logged as an error and the schedule
/// goes on. The publisher is the caller's to shut down (others may share it).
public struct PayloadScheduler: Service {
    private let schedule: [Payload: Int]
    private let publisher: HealRequestPublisher
    private let health: ServiceHealth?
    private let logger: Logger

    /// - Parameter health: told when the schedule starts and ends, with a probe of the publisher's broker connection.
    public init(schedule: [Payload: Int], publisher: HealRequestPublisher, health: ServiceHealth? = nil, logger: Logger) {
        self.health = health
        self.schedule = schedule
        self.publisher = publisher
        self.logger = logger
    }

    public func run() async throws {
        let active = Payload.allCases.compactMap { p in schedule[p].flatMap { $0 > 0 ? (p, $0) : nil } }
        for payload in Payload.allCases where schedule[payload, default: 0] == 0 {
            logger.info("payload turned off in [schedule]", metadata: ["payload": "\(payload.rawValue)"])
        }
        let publisher = self.publisher
        health?.loopStarted("scheduler", brokerConnected: { publisher.isConnected })
        defer { health?.loopEnded("scheduler") }
        if active.isEmpty {
            logger.notice("every payload is turned off in [schedule]: no periodic sweeps")
            try? await gracefulShutdown()
        }
        await withTaskGroup(of: Void.self) { group in
            for (payload, period) in active {
                group.addTask { await publishForever(payload, every: .seconds(period)) }
            }
        }
        logger.notice("schedule stopped")
    }

    private func publishForever(_ payload: Payload, every period: Duration) async {
        logger.info("scheduled", metadata: ["payload": "\(payload.rawValue)", "every": "\(period.logDescription)"])
        await cancelWhenGracefulShutdown {
            var missed: [Scope: Int] = [:]
            while !Task.isCancelled {
                let next = ContinuousClock.now + period
                let results = await withTaskGroup(of: (Scope, Bool).self) { group in
                    for scope in payload.scopes {
                        group.addTask { (scope, await publishOnce(payload, scope: scope, period: period)) }
                    }
                    return await group.reduce(into: [Scope: Bool]()) { $0[$1.0] = $1.1 }
                }
                for (scope, published) in results {
                    if !published {
                        missed[scope, default: 0] += 1
                    } else if let count = missed.removeValue(forKey: scope) {
                        logger.notice(
                            "broker reachable again; sweeps were dropped while it was away",
                            metadata: [
                                "payload": "\(payload.rawValue)", "scope": "\(scope.rawValue)", "dropped": "\(count)",
                            ])
                    }
                }
                try? await Task.sleep(until: next, clock: .continuous)
            }
        }
    }

    /// Publishes one sweep; false if the broker did not confirm it within one period (it is dropped: the next period's replaces it).
    private func publishOnce(_ payload: Payload, scope: Scope, period: Duration) async -> Bool {
        let now = Date()
        let envelope = Envelope(
            payload: payload, scope: scope, issuedAt: now, expiresAt: now.addingTimeInterval(Double(period.components.seconds)))
        let clock = ContinuousClock()
        let started = clock.now
        var log: Logger.Metadata = [
            "payload": "\(payload.rawValue)", "scope": "\(scope.rawValue)", "request": "\(envelope.id)",
            "exchange": "\(Topology.exchange(for: scope))",
        ]
        do {
            try await publisher.publish(envelope, timeout: period)
            log["result"] = "confirmed"
            log["duration"] = "\((clock.now - started).logDescription)"
            logger.info("published", metadata: log)
            return true
        } catch {
            log["result"] = "failed"
            log["error"] = "\(error)"
            log["duration"] = "\((clock.now - started).logDescription)"
            logger.error("publish failed; sweep dropped, the next period sends a new one", metadata: log)
            return false
        }
    }
}
