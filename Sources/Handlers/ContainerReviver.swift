import AutoHealCore
import DockerAPI
import Foundation
import Logging

/// `container_auto_heal`: brings back containers that are down, paused or unhealthy, and
/// never makes an outage worse.
///
/// For every configured host × container of the request's scope (or only the request's
/// target), it inspects the container, asks ``ReviveDecision`` what to do (with the grace
/// after start and the stopped-on-purpose rule), and then asks the target's
/// ``RestartBudget``: back off, act, or leave a quarantined target to a person (an ERROR line
/// and a notification, once). While the ``HealingGate`` reports a pause, or with `dry_run`,
/// it logs what it would have done and changes nothing. Targets are handled concurrently;
/// one unreachable host or missing container is an error line for that target only.
public final class ContainerReviver: PayloadHandler {
    private let config: AutoHealConfig
    private let docker: DockerHosts
    private let loggers: [Scope: Logger]
    private let gate: any HealingGate
    private let notifier: any Notifier
    private let state: ReviverState
    private let rules: ReviveDecision.Rules

    public init(
        config: AutoHealConfig, docker: DockerHosts, loggers: [Scope: Logger], gate: any HealingGate = OpenGate(),
        notifier: any Notifier = SilentNotifier()
    ) {
        self.config = config
        self.docker = docker
        self.loggers = loggers
        self.gate = gate
        self.notifier = notifier
        self.state = ReviverState(limits: RestartBudget.Limits(config.policy))
        self.rules = ReviveDecision.Rules(
            reviveStopped: config.policy.reviveStopped, graceAfterStart: TimeInterval(config.policy.graceAfterStartSeconds))
    }

    public func handle(_ request: Envelope) async -> HandlerOutcome {
        let logger = loggers[request.scope] ?? Logger(label: "engine.\(request.scope.rawValue)")
        let clock = ContinuousClock()
        let started = clock.now
        let targets: [TargetKey]
        if let target = request.target {
            guard config.hosts.hosts(for: request.scope).contains(where: { $0.name == target.host }) else {
                logger.error("request names a host that is not a \(request.scope.rawValue) host in the config",
                             metadata: ["host": "\(target.host)", "container": "\(target.container)", "request": "\(request.id)"])
                return HandlerOutcome(failed: 1)
            }
            targets = [target]
        } else {
            targets = config.hosts.hosts(for: request.scope).flatMap { host in
                config.containers[request.scope, default: []].map { TargetKey(host: host.name, container: $0) }
            }
        }
        let outcome = await withTaskGroup(of: HandlerOutcome.self) { group in
            for target in targets {
                group.addTask { await self.revive(target, logger: logger) }
            }
            return await group.reduce(HandlerOutcome(), +)
        }
        logger.info("sweep finished", metadata: [
            "payload": "\(request.payload.rawValue)", "scope": "\(request.scope.rawValue)",
            "duration": "\((clock.now - started).logDescription)", "request": "\(request.id)",
            "checked": "\(outcome.checked)", "acted": "\(outcome.acted)", "failed": "\(outcome.failed)",
            "skipped": "\(outcome.skipped)",
        ])
        return outcome
    }

    private func revive(_ target: TargetKey, logger: Logger) async -> HandlerOutcome {
        var log: Logger.Metadata = ["host": "\(target.host)", "container": "\(target.container)"]
        guard let client = docker.client(forHost: target.host) else {
            logger.error("no Docker client for host", metadata: log)
            return HandlerOutcome(checked: 1, failed: 1)
        }
        guard await state.claim(target) else {
            logger.debug("already being handled by another request", metadata: log)
            return HandlerOutcome(checked: 1, skipped: 1)
        }
        let outcome = await reviveClaimed(target, client: client, log: log, logger: logger)
        await state.release(target)
        return outcome
    }

    /// ``revive(_:logger:)`` for a target this request has claimed.
    private func reviveClaimed(_ target: TargetKey, client: DockerClient, log: Logger.Metadata, logger: Logger) async -> HandlerOutcome {
        var log = log
        let clock = ContinuousClock()
        let started = clock.now
        let seen: ContainerObservation
        do {
            let details = try await client.inspectContainer(target.container)
            seen = details.observation
        } catch {
            log["action"] = "inspect"
            log["result"] = "failed"
            log["duration"] = "\((clock.now - started).logDescription)"
            log["error"] = "\(error)"
            logger.error("cannot check container", metadata: log)
            return HandlerOutcome(checked: 1, failed: 1)
        }
        log["seen"] = "\(seen.summary)"
        let now = Date()
        let decision = ReviveDecision.decide(seen, rules: rules, now: now)

        if seen.isHealthy {
            if await state.recordHealthy(target, now: now) {
                logger.notice("quarantined container has been healthy for healthy_reset: released", metadata: log)
                notifier.notify("Cloud Auto Heal: \(target.container) on \(target.host) is healthy again and released from quarantine.")
            }
        }
        guard decision.action.changesContainer else {
            log["action"] = "\(decision.action.rawValue)"
            log["reason"] = "\(decision.reason)"
            if decision.action == .wait || (seen.status == "exited" && decision.action == .none) {
                logger.info("leaving it this round", metadata: log)
                return HandlerOutcome(checked: 1, skipped: 1)
            }
            logger.debug("nothing to do", metadata: log)
            return HandlerOutcome(checked: 1)
        }
        await state.recordUnhealthy(target)
        log["action"] = "\(decision.action.rawValue)"
        log["reason"] = "\(decision.reason)"

        switch await state.verdict(target, now: now) {
        case .quarantined:
            if await state.markReported(target) {
                logger.error("container needs a person: \(config.policy.maxAttempts) actions within \(config.policy.attemptWindowSeconds)s did not bring it back; quarantined until it is healthy for \(config.policy.healthyResetSeconds)s or released", metadata: log)
                notifier.notify("Cloud Auto Heal gave up on \(target.container) on \(target.host) (\(seen.summary)): \(config.policy.maxAttempts) actions did not bring it back. It needs a person.")
            } else {
                logger.warning("still quarantined: needs a person", metadata: log)
            }
            return HandlerOutcome(checked: 1, skipped: 1)
        case .backingOff(let until):
            log["until"] = "\(Envelope.formatDate(until))"
            logger.info("backing off before the next action", metadata: log)
            return HandlerOutcome(checked: 1, skipped: 1)
        case .allowed(let attempt):
            log["attempt"] = "\(attempt)/\(config.policy.maxAttempts)"
        }
        if config.policy.dryRun {
            logger.notice("dry run: would \(decision.action.rawValue) the container", metadata: log)
            return HandlerOutcome(checked: 1, skipped: 1)
        }
        if let pause = await gate.pauseReason(for: target) {
            log["pause"] = "\(pause)"
            logger.notice("healing paused: would \(decision.action.rawValue) the container", metadata: log)
            return HandlerOutcome(checked: 1, skipped: 1)
        }

        await state.recordAction(target, now: now)
        if decision.action == .restart {
            logger.info("restarting container (Docker waits up to stop_timeout for it to stop)",
                        metadata: log.merging(["stop_timeout": "\(config.engine.stopTimeoutSeconds)s"]) { $1 })
        }
        let actionStarted = clock.now
        do {
            switch decision.action {
            case .restart: try await client.restartContainer(target.container, stopTimeout: config.engine.stopTimeoutSeconds)
            case .start: try await client.startContainer(target.container)
            case .unpause: try await client.unpauseContainer(target.container)
            case .none, .wait: break
            }
            log["result"] = "ok"
            log["duration"] = "\((clock.now - actionStarted).logDescription)"
            logger.notice("revived container", metadata: log)
            return HandlerOutcome(checked: 1, acted: 1)
        } catch {
            log["result"] = "failed"
            log["duration"] = "\((clock.now - actionStarted).logDescription)"
            log["error"] = "\(error)"
            logger.error("action failed", metadata: log)
            return HandlerOutcome(checked: 1, failed: 1)
        }
    }
}

/// The reviver's memory between requests: the restart budget per target, which targets an
/// action is running on, and which quarantines were already reported.
actor ReviverState {
    private var budget: RestartBudget
    private var inFlight: Set<TargetKey> = []
    private var reported: Set<TargetKey> = []

    init(limits: RestartBudget.Limits) { budget = RestartBudget(limits: limits) }

    /// Takes the target for this request; false if another request is working on it.
    func claim(_ target: TargetKey) -> Bool { inFlight.insert(target).inserted }
    func release(_ target: TargetKey) { inFlight.remove(target) }
    func verdict(_ target: TargetKey, now: Date) -> RestartBudget.Verdict { budget.verdict(for: target, now: now) }
    func recordAction(_ target: TargetKey, now: Date) { budget.recordAction(target, now: now) }
    func recordUnhealthy(_ target: TargetKey) { budget.recordUnhealthy(target) }

    /// True when this ended a quarantine.
    func recordHealthy(_ target: TargetKey, now: Date) -> Bool {
        let released = budget.recordHealthy(target, now: now)
        if released { reported.remove(target) }
        return released
    }

    /// True the first time a quarantined target is reported.
    func markReported(_ target: TargetKey) -> Bool { reported.insert(target).inserted }
}
