import AutoHealCore
import DockerAPI
import Logging

/// `container_auto_heal`: brings back containers that are down, paused or unhealthy.
///
/// For every configured host × container of the request's scope (or only the request's
/// target), it inspects the container, asks ``ReviveDecision`` what to do, and starts,
/// unpauses or restarts it. Targets are handled concurrently; one unreachable host or
/// missing container is an error line for that target only. Attempts are counted per
/// (host, container): after `max_failed_attempts` actions without the target being seen
/// healthy, it is left to a person (an ERROR line) until it is seen healthy again.
public final class ContainerReviver: PayloadHandler {
    private let config: AutoHealConfig
    private let docker: DockerHosts
    private let loggers: [Scope: Logger]
    private let state: ReviverState

    public init(config: AutoHealConfig, docker: DockerHosts, loggers: [Scope: Logger]) {
        self.config = config
        self.docker = docker
        self.loggers = loggers
        self.state = ReviverState(limit: config.engine.maxFailedAttempts)
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
        let clock = ContinuousClock()
        let started = clock.now
        let seen: ContainerObservation
        do {
            seen = try await client.inspectContainer(target.container).observation
        } catch {
            await state.release(target)
            log["action"] = "inspect"
            log["result"] = "failed"
            log["duration"] = "\((clock.now - started).logDescription)"
            log["error"] = "\(error)"
            logger.error("cannot check container", metadata: log)
            return HandlerOutcome(checked: 1, failed: 1)
        }
        log["seen"] = "\(seen.summary)"
        let decision = ReviveDecision.decide(seen)

        if seen.isHealthy {
            let forgiven = await state.recordHealthy(target)
            if forgiven > 0 {
                logger.notice("container is healthy again", metadata: log.merging(["attempts": "\(forgiven)"]) { $1 })
            }
        }
        guard decision.action.changesContainer else {
            await state.release(target)
            log["action"] = "\(decision.action.rawValue)"
            log["reason"] = "\(decision.reason)"
            if decision.action == .wait {
                logger.info("leaving it this round", metadata: log)
                return HandlerOutcome(checked: 1, skipped: 1)
            }
            logger.debug("nothing to do", metadata: log)
            return HandlerOutcome(checked: 1)
        }
        if await state.isExhausted(target) {
            await state.release(target)
            log["action"] = "none"
            log["reason"] = "\(decision.reason)"
            log["attempts"] = "\(config.engine.maxFailedAttempts)"
            if await state.markReported(target) {
                logger.error("container needs a person: \(config.engine.maxFailedAttempts) attempts did not bring it back; leaving it alone until it is seen healthy", metadata: log)
            } else {
                logger.warning("still left alone: needs a person", metadata: log)
            }
            return HandlerOutcome(checked: 1, skipped: 1)
        }

        let attempt = await state.recordAttempt(target)
        log["action"] = "\(decision.action.rawValue)"
        log["reason"] = "\(decision.reason)"
        log["attempt"] = "\(attempt)/\(config.engine.maxFailedAttempts)"
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
            await state.release(target)
            log["result"] = "ok"
            log["duration"] = "\((clock.now - actionStarted).logDescription)"
            logger.notice("revived container", metadata: log)
            return HandlerOutcome(checked: 1, acted: 1)
        } catch {
            await state.release(target)
            log["result"] = "failed"
            log["duration"] = "\((clock.now - actionStarted).logDescription)"
            log["error"] = "\(error)"
            logger.error("action failed", metadata: log)
            return HandlerOutcome(checked: 1, failed: 1)
        }
    }

}

/// The reviver's memory between requests: attempts per target, which targets an action
/// is running on, and which exhausted targets were already reported.
actor ReviverState {
    private var tracker: AttemptTracker
    private var inFlight: Set<TargetKey> = []
    private var reported: Set<TargetKey> = []

    init(limit: Int) { tracker = AttemptTracker(limit: limit) }

    /// Takes the target for this request; false if another request is working on it.
    func claim(_ target: TargetKey) -> Bool { inFlight.insert(target).inserted }
    func release(_ target: TargetKey) { inFlight.remove(target) }
    func isExhausted(_ target: TargetKey) -> Bool { tracker.isExhausted(target) }
    func recordAttempt(_ target: TargetKey) -> Int { tracker.recordAttempt(target) }

    func recordHealthy(_ target: TargetKey) -> Int {
        reported.remove(target)
        return tracker.recordHealthy(target)
    }

    /// True the first time an exhausted target is reported.
    func markReported(_ target: TargetKey) -> Bool { reported.insert(target).inserted }
}
