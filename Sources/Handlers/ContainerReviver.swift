import AutoHealCore
import DockerAPI
import FoundationEssentials
import Logging
import Policy

/// `container_auto_heal`: brings back containers that are down, paused or unhealthy.
///
/// For every configured host × container of the request's scope (or only the request's
/// target), it inspects the container and asks ``ReviveDecision`` what it needs (with the
/// grace after start and the stopped-on-purpose rule). A start, unpause or restart is handed
/// to the ``PolicyExecutor`` — pause, dry run, restart budget, rolling slots, journal — and a
/// target left waiting (health `starting`, inside `grace_after_start`) is looked at again when
/// its wait should be over. Targets are handled concurrently; one unreachable host or missing
/// container is an error line for that target only.
public final class ContainerReviver: PayloadHandler {
    private let config: AutoHealConfig
    private let observer: Observer
    private let executor: PolicyExecutor
    private let loggers: [Scope: Logger]
    private let claims = TargetClaims()
    private let rules: ReviveDecision.Rules

    public init(config: AutoHealConfig, observer: Observer, executor: PolicyExecutor, loggers: [Scope: Logger]) {
        self.config = config
        self.observer = observer
        self.executor = executor
        self.loggers = loggers
        rules = ReviveDecision.Rules(
            reviveStopped: config.policy.reviveStopped, graceAfterStart: TimeInterval(config.policy.graceAfterStartSeconds))
    }

    /// Hosts a sweep works on at once.
    static let hostsAtOnce = 128
    /// When a target waiting for a health check to finish starting is looked at again.
    static let waitRecheck: Duration = .seconds(10)

    public func handle(_ request: Envelope) async -> HandlerOutcome {
        let logger = loggers[request.scope] ?? Logger(label: "engine.\(request.scope.rawValue)")
        let clock = ContinuousClock()
        let started = clock.now
        let targets: [TargetKey]
        if let target = request.target {
            // The engine dead-letters requests for targets the config does not name; this is a backstop.
            guard config.refusal(of: request) == nil else {
                logger.error(
                    "request names a target that is not in the config",
                    metadata: ["host": "\(target.host)", "container": "\(target.container)", "request": "\(request.id)"])
                return HandlerOutcome(failed: 1)
            }
            targets = [target]
        } else {
            targets = config.hosts.hosts(for: request.scope).flatMap { host in
                config.containers[request.scope, default: []].map { TargetKey(host: host.name, container: $0) }
            }
        }
        // Up to `hostsAtOnce` hosts at a time, the next one starting as soon as one is done (so a
        // silent host holds one place until its deadline and delays no other), and each host's
        // containers at once within its client's bound on requests in flight. Bounding the
        // hosts bounds the memory of a sweep of thousands of containers.
        let byHost = Array(Dictionary(grouping: targets, by: \.host).values)
        let outcome = await withTaskGroup(of: HandlerOutcome.self) { hosts in
            var total = HandlerOutcome()
            var next = 0
            func startHost() {
                let hostTargets = byHost[next]
                next += 1
                hosts.addTask {
                    await withTaskGroup(of: HandlerOutcome.self) { group in
                        for target in hostTargets {
                            group.addTask { await self.revive(target, request: request, logger: logger) }
                        }
                        return await group.reduce(HandlerOutcome(), +)
                    }
                }
            }
            while next < min(Self.hostsAtOnce, byHost.count) { startHost() }
            while let done = await hosts.next() {
                total = total + done
                if next < byHost.count { startHost() }
            }
            return total
        }
        logger.info(
            "sweep finished",
            metadata: [
                "payload": "\(request.payload.rawValue)", "scope": "\(request.scope.rawValue)",
                "duration": "\((clock.now - started).logDescription)", "request": "\(request.id)",
                "checked": "\(outcome.checked)", "acted": "\(outcome.acted)", "failed": "\(outcome.failed)",
                "skipped": "\(outcome.skipped)",
            ])
        return outcome
    }

    /// A targeted request waits for another request on the same target to finish (it may
    /// have looked before the fault); a sweep leaves the target to it.
    private func revive(_ target: TargetKey, request: Envelope, logger: Logger) async -> HandlerOutcome {
        if request.target != nil {
            guard await claims.claimWhenFree(target) else { return HandlerOutcome(checked: 1, skipped: 1) }
        } else if !claims.claim(target) {
            logger.debug(
                "already being handled by another request", metadata: ["host": "\(target.host)", "container": "\(target.container)"])
            return HandlerOutcome(checked: 1, skipped: 1)
        }
        let outcome = await reviveClaimed(target, scope: request.scope, logger: logger)
        claims.release(target)
        return outcome
    }

    private func reviveClaimed(_ target: TargetKey, scope: Scope, logger: Logger) async -> HandlerOutcome {
        var logger = logger
        logger[metadataKey: "host"] = "\(target.host)"
        logger[metadataKey: "container"] = "\(target.container)"
        let clock = ContinuousClock()
        let started = clock.now
        let seen: ContainerObservation
        do {
            seen = try await observer.inspect(target.container, on: target.host).observation
        } catch {
            logger.error(
                "cannot check container",
                metadata: [
                    "action": "inspect", "result": "failed", "duration": "\((clock.now - started).logDescription)", "error": "\(error)",
                ])
            return HandlerOutcome(checked: 1, failed: 1)
        }
        logger[metadataKey: "seen"] = "\(seen.summary)"
        logger.debug("inspected", metadata: ["duration": "\((clock.now - started).logDescription)"])
        let now = Date()
        let decision = ReviveDecision.decide(seen, rules: rules, now: now)
        if seen.isHealthy { await executor.observe(target, healthy: true, seen: seen.summary, logger: logger) }

        guard let action = action(for: decision, seen: seen, target: target, scope: scope) else {
            logger[metadataKey: "action"] = "\(decision.action.rawValue)"
            logger[metadataKey: "reason"] = "\(decision.reason)"
            if decision.action == .wait || (seen.status == "exited" && decision.action == .none) {
                let waiting = decision.action == .wait
                await executor.record(
                    waiting ? .wait : .leftAlone, host: target.host, target: target.container, seen: seen.summary,
                    reason: decision.reason, logger: logger)
                logger.info("leaving it this round")
                if waiting {
                    executor.lookAgain(
                        Envelope(payload: .containerAutoHeal, scope: scope, target: target),
                        at: recheckTime(for: seen, now: now))
                }
                return HandlerOutcome(checked: 1, skipped: 1)
            }
            logger.debug("nothing to do")
            return HandlerOutcome(checked: 1)
        }
        await executor.observe(target, healthy: false, seen: seen.summary, logger: logger)
        let outcome = await executor.perform(
            action, logger: logger,
            revalidate: { [self] in
                // The container may have changed while this host waited for its turn.
                guard let fresh = try? await observer.inspect(target.container, on: target.host).observation else { return action }
                return self.action(for: ReviveDecision.decide(fresh, rules: rules, now: Date()), seen: fresh, target: target, scope: scope)
            },
            settled: { [observer] in
                (try? await observer.inspect(target.container, on: target.host).observation.isHealthy) ?? false
            })
        return HandlerOutcome(checked: 1, for: outcome)
    }

    /// The start, unpause or restart the decision asks for; nil when it asks for none.
    private func action(for decision: ReviveDecision, seen: ContainerObservation, target: TargetKey, scope: Scope) -> HealAction? {
        let kind: HealAction.Kind
        switch decision.action {
        case .start: kind = .start
        case .unpause: kind = .unpause
        case .restart: kind = .restart
        case .none, .wait: return nil
        }
        return HealAction(
            handler: .containerAutoHeal, kind: kind, host: target.host, container: target.container, target: target,
            seen: seen.summary, reason: decision.reason, service: target.container,
            recheck: Envelope(payload: .containerAutoHeal, scope: scope, target: target), doneMessage: "revived container")
    }

    /// When a waiting target should be looked at again: at the end of its grace after start,
    /// or after ``waitRecheck`` for a health check that is still starting.
    private func recheckTime(for seen: ContainerObservation, now: Date) -> ContinuousClock.Instant {
        if seen.health == "unhealthy", let started = seen.startedAt {
            let graceEnds = started.addingTimeInterval(rules.graceAfterStart + 1).timeIntervalSince(now)
            return .now + .seconds(max(graceEnds, 1))
        }
        return .now + Self.waitRecheck
    }

    /// Targets whose restart budget is spent right now.
    public func quarantinedCount() async -> Int { await executor.quarantinedCount() }
}
