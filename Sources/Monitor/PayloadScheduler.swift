import AMQP
import AutoHealCore
import Foundation
import Logging
import Messaging
import ServiceLifecycle

/// The monitor's long-running service: publishes each payload whose period is not 0 to
/// the exchange of each of its scopes, at start and then every period.
///
/// Each message is a persistent envelope that expires after one period (a sweep that
/// waited longer than that is stale), published with publisher confirms. A publish that
/// the broker does not confirm within the period is logged as an error and the schedule
/// goes on.
public struct PayloadScheduler: Service {
    private let schedule: [Payload: Int]
    private let publisher: HealRequestPublisher
    private let logger: Logger

    public init(schedule: [Payload: Int], publisher: HealRequestPublisher, logger: Logger) {
        self.schedule = schedule
        self.publisher = publisher
        self.logger = logger
    }

    public func run() async throws {
        let active = Payload.allCases.compactMap { p in schedule[p].flatMap { $0 > 0 ? (p, $0) : nil } }
        for payload in Payload.allCases where schedule[payload, default: 0] == 0 {
            logger.info("payload turned off in [schedule]", metadata: ["payload": "\(payload.rawValue)"])
        }
        await withTaskGroup(of: Void.self) { group in
            for (payload, period) in active {
                group.addTask { await publishForever(payload, every: .seconds(period)) }
            }
        }
        await publisher.shutdown()
        logger.notice("monitor stopped")
    }

    private func publishForever(_ payload: Payload, every period: Duration) async {
        logger.info("scheduled", metadata: ["payload": "\(payload.rawValue)", "every": "\(period.logDescription)"])
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let next = ContinuousClock.now + period
                await withTaskGroup(of: Void.self) { group in
                    for scope in payload.scopes {
                        group.addTask { await publishOnce(payload, scope: scope, period: period) }
                    }
                }
                try? await Task.sleep(until: next, clock: .continuous)
            }
        }
    }

    private func publishOnce(_ payload: Payload, scope: Scope, period: Duration) async {
        let now = Date()
        let envelope = Envelope(payload: payload, scope: scope, issuedAt: now, expiresAt: now.addingTimeInterval(Double(period.components.seconds)))
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
        } catch {
            log["result"] = "failed"
            log["error"] = "\(error)"
            log["duration"] = "\((clock.now - started).logDescription)"
            logger.error("publish failed; the next period tries again", metadata: log)
        }
    }
}
