import AutoHealCore
import DockerAPI
import Foundation
import Journal
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
///
/// Rolling: one container name is acted on on at most `max_parallel_per_service` hosts at a
/// time, and at most `max_parallel_actions` actions run at once. When other hosts wait to act
/// on the same service, the acting host keeps its slot until its container is healthy again;
/// if it is not within `rolling_wait`, the service is held — no action on it on any host —
/// with an ERROR line and a notification, until it is seen healthy somewhere again.
public final class ContainerReviver: PayloadHandler {
    private let config: AutoHealConfig
    private let docker: DockerHosts
    private let loggers: [Scope: Logger]
    private let gate: any HealingGate
    private let notifier: any Notifier
    private let state: ReviverState
    private let rules: ReviveDecision.Rules
    private let slots: ActionSlots
    private let journal: DecisionJournal?
    private let share: (any BudgetShare)?
    private let identity = "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"

    public init(
        config: AutoHealConfig, docker: DockerHosts, loggers: [Scope: Logger], gate: any HealingGate = OpenGate(),
        notifier: any Notifier = SilentNotifier(), journal: DecisionJournal? = nil, share: (any BudgetShare)? = nil
    ) {
        self.journal = journal
        self.share = share
        self.config = config
        self.docker = docker
        self.loggers = loggers
        self.gate = gate
        self.notifier = notifier
        self.state = ReviverState(limits: RestartBudget.Limits(config.policy), restored: (try? journal?.budgets()) ?? [:])
        self.slots = ActionSlots(perService: config.policy.maxParallelPerService, total: config.policy.maxParallelActions)
        self.rules = ReviveDecision.Rules(
            reviveStopped: config.policy.reviveStopped, graceAfterStart: TimeInterval(config.policy.graceAfterStartSeconds))
    }

    /// Hosts a sweep works on at once.
    static let hostsAtOnce = 128

    /// Targets whose restart budget is spent (quarantined) right now.
    public func quarantinedCount() async -> Int { await state.quarantinedCount }

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
                            group.addTask { await self.revive(target, waitForClaim: request.target != nil, logger: logger) }
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
        logger.info("sweep finished", metadata: [
            "payload": "\(request.payload.rawValue)", "scope": "\(request.scope.rawValue)",
            "duration": "\((clock.now - started).logDescription)", "request": "\(request.id)",
            "checked": "\(outcome.checked)", "acted": "\(outcome.acted)", "failed": "\(outcome.failed)",
            "skipped": "\(outcome.skipped)",
        ])
        return outcome
    }

    /// - Parameter waitForClaim: wait for another request on the same target to finish (a
    ///   targeted request) rather than leave the target to it (a sweep).
    private func revive(_ target: TargetKey, waitForClaim: Bool, logger: Logger) async -> HandlerOutcome {
        let log: Logger.Metadata = ["host": "\(target.host)", "container": "\(target.container)"]
        guard let client = docker.client(forHost: target.host) else {
            logger.error("no Docker client for host", metadata: log)
            return HandlerOutcome(checked: 1, failed: 1)
        }
        if waitForClaim {
            await state.claimWhenFree(target)
        } else if !(await state.claim(target)) {
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
        // Budgets left by another engine (the one that acted before this one took over) win if newer.
        if let snapshot = await share?.latest(), snapshot.by != identity, await state.adopt(snapshot) {
            logger.notice("restart budgets taken over from another engine",
                          metadata: ["from": "\(snapshot.by)", "targets": "\(snapshot.entries.count)", "at": "\(Envelope.formatDate(snapshot.at))"])
        }
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
        if let released = await gate.releasedAt(target), await state.applyRelease(target, at: released) {
            logger.notice("released by an operator: budget and quarantine forgotten", metadata: log)
            await saveBudget(target, logger: logger)
            await note(target, seen: seen.summary, decision: "released", reason: "autoheal release", logger: logger)
        }

        if seen.isHealthy {
            if await state.clearHold(target) {
                logger.notice("service healthy again where the rolling action was held: rolling actions on it resume", metadata: log)
            }
            let (released, changed) = await state.recordHealthyChanged(target, now: now)
            if changed { await saveBudget(target, logger: logger) }
            if released {
                await note(target, seen: seen.summary, decision: "recovered", reason: "healthy for healthy_reset", logger: logger)
                logger.notice("quarantined container has been healthy for healthy_reset: released", metadata: log)
                notifier.notify("Cloud Auto Heal: \(target.container) on \(target.host) is healthy again and released from quarantine.")
            }
        }
        guard decision.action.changesContainer else {
            log["action"] = "\(decision.action.rawValue)"
            log["reason"] = "\(decision.reason)"
            if decision.action == .wait || (seen.status == "exited" && decision.action == .none) {
                await note(target, seen: seen.summary, decision: decision.action == .wait ? "wait" : "left_alone", reason: decision.reason, logger: logger)
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
            await note(target, seen: seen.summary, decision: "quarantined", reason: decision.reason, action: decision.action.rawValue, logger: logger)
            if await state.markReported(target) {
                logger.error("container needs a person: \(config.policy.maxAttempts) actions within \(config.policy.attemptWindowSeconds)s did not bring it back; quarantined until it is healthy for \(config.policy.healthyResetSeconds)s or released", metadata: log)
                notifier.notify("Cloud Auto Heal gave up on \(target.container) on \(target.host) (\(seen.summary)): \(config.policy.maxAttempts) actions did not bring it back. It needs a person.")
            } else {
                logger.warning("still quarantined: needs a person", metadata: log)
            }
            return HandlerOutcome(checked: 1, skipped: 1)
        case .backingOff(let until):
            await note(target, seen: seen.summary, decision: "backing_off", reason: "next action allowed at \(Envelope.formatDate(until))",
                       action: decision.action.rawValue, logger: logger)
            log["until"] = "\(Envelope.formatDate(until))"
            logger.info("backing off before the next action", metadata: log)
            return HandlerOutcome(checked: 1, skipped: 1)
        case .allowed(let attempt):
            log["attempt"] = "\(attempt)/\(config.policy.maxAttempts)"
        }
        if config.policy.dryRun {
            await note(target, seen: seen.summary, decision: "dry_run", reason: decision.reason, action: decision.action.rawValue, logger: logger)
            logger.notice("dry run: would \(decision.action.rawValue) the container", metadata: log)
            HealMetrics.action(handler: Payload.containerAutoHeal.rawValue, kind: decision.action.rawValue, result: "dry_run")
            return HandlerOutcome(checked: 1, skipped: 1)
        }
        if let pause = await gate.pauseReason(for: target) {
            log["pause"] = "\(pause)"
            await note(target, seen: seen.summary, decision: "paused", reason: pause, action: decision.action.rawValue, logger: logger)
            logger.notice("healing paused: would \(decision.action.rawValue) the container", metadata: log)
            HealMetrics.action(handler: Payload.containerAutoHeal.rawValue, kind: decision.action.rawValue, result: "paused")
            return HandlerOutcome(checked: 1, skipped: 1)
        }

        return await act(decision, on: target, client: client, log: log, logger: logger)
    }

    /// Writes a decision to the journal (if there is one); a failing journal is a WARNING, never a reason not to heal.
    private func note(
        _ target: TargetKey, seen: String, decision: String, reason: String, action: String = "", result: String = "",
        duration: Duration? = nil, logger: Logger
    ) async {
        guard let journal else { return }
        let seconds = duration?.timeInterval
        do {
            try await journal.record(JournalEntry(
                host: target.host, target: target.container, seen: seen, decision: decision, reason: reason, action: action,
                result: result, duration: seconds))
        } catch {
            logger.warning("cannot write the journal", metadata: ["error": "\(error)", "journal": "\(journal.path)"])
        }
    }

    /// Saves the target's budget record to the journal after it changed, and leaves all
    /// budgets on the broker for the other engines.
    private func saveBudget(_ target: TargetKey, logger: Logger) async {
        if let share {
            let (records, at) = await state.markChanged()
            await share.publish(BudgetSnapshot(at: at, by: identity, records: records))
        }
        guard let journal else { return }
        do {
            try await journal.saveBudget(target, await state.record(target))
        } catch {
            logger.warning("cannot save the restart budget", metadata: ["error": "\(error)", "journal": "\(journal.path)"])
        }
    }

    /// Takes a rolling slot for the service, re-reads the container if it had to wait for
    /// the slot, acts, and (when other hosts wait for the same service) keeps the slot until
    /// it is healthy again. A held service is checked before and after the wait.
    private func act(_ decision: ReviveDecision, on target: TargetKey, client: DockerClient, log: Logger.Metadata, logger: Logger) async -> HandlerOutcome {
        let service = target.container
        if let held = await heldOutcome(service, log: log, logger: logger) { return held }
        await state.addPending(service)
        let waited = await slots.acquire(service)
        await state.removePending(service)
        var outcome: HandlerOutcome
        if waited, let held = await heldOutcome(service, log: log, logger: logger) {
            outcome = held
        } else {
            outcome = await actHoldingSlot(decision, on: target, client: client, waited: waited, log: log, logger: logger)
        }
        await slots.release(service)
        return outcome
    }

    /// The outcome for a service whose rolling actions are held, after saying so; nil if it is not held.
    private func heldOutcome(_ service: String, log: Logger.Metadata, logger: Logger) async -> HandlerOutcome? {
        guard let hold = await state.hold(service) else { return nil }
        logger.warning("rolling held for this service: not acting (needs a person)", metadata: log.merging(["hold": "\(hold)"]) { $1 })
        return HandlerOutcome(checked: 1, skipped: 1)
    }

    private func actHoldingSlot(
        _ decision: ReviveDecision, on target: TargetKey, client: DockerClient, waited: Bool, log: Logger.Metadata, logger: Logger
    ) async -> HandlerOutcome {
        var log = log
        let service = target.container
        var decision = decision
        // The container may have changed while this host waited for its turn.
        if waited, let fresh = try? await client.inspectContainer(target.container).observation {
            decision = ReviveDecision.decide(fresh, rules: rules, now: Date())
            if !decision.action.changesContainer {
                log["seen"] = "\(fresh.summary)"
                logger.info("no longer needs an action after waiting for its turn", metadata: log)
                return HandlerOutcome(checked: 1)
            }
        }
        let clock = ContinuousClock()
        await state.recordAction(target, now: Date())
        await saveBudget(target, logger: logger)
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
            HealMetrics.action(handler: Payload.containerAutoHeal.rawValue, kind: decision.action.rawValue, result: "done")
            await note(target, seen: "\(log["seen"] ?? "")", decision: "act", reason: decision.reason, action: decision.action.rawValue,
                       result: "ok", duration: clock.now - actionStarted, logger: logger)
        } catch {
            log["result"] = "failed"
            log["duration"] = "\((clock.now - actionStarted).logDescription)"
            log["error"] = "\(error)"
            logger.error("action failed", metadata: log)
            HealMetrics.action(handler: Payload.containerAutoHeal.rawValue, kind: decision.action.rawValue, result: "failed")
            await note(target, seen: "\(log["seen"] ?? "")", decision: "act", reason: "\(decision.reason); \(error)",
                       action: decision.action.rawValue, result: "failed", duration: clock.now - actionStarted, logger: logger)
            return HandlerOutcome(checked: 1, failed: 1)
        }

        // Other hosts wait to act on this service: hold the slot until it is healthy again.
        guard await state.pending(service) > 0 else { return HandlerOutcome(checked: 1, acted: 1) }
        let deadline = clock.now + .seconds(config.policy.rollingWaitSeconds)
        while clock.now < deadline {
            if let seen = try? await client.inspectContainer(target.container).observation, seen.isHealthy {
                logger.info("healthy again: the next host may act on this service", metadata: log.merging([
                    "waited": "\((clock.now - actionStarted).logDescription)",
                ]) { $1 })
                return HandlerOutcome(checked: 1, acted: 1)
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
        let hold = "\(decision.action.rawValue) of \(service) on \(target.host) did not make it healthy within rolling_wait (\(config.policy.rollingWaitSeconds)s)"
        await state.setHold(target, hold)
        await state.quarantine(target)
        await saveBudget(target, logger: logger)
        await note(target, seen: "\(log["seen"] ?? "")", decision: "held", reason: hold, action: decision.action.rawValue, result: "ok", logger: logger)
        logger.error("rolling action did not help: not acting on \(service) on the other hosts; it needs a person", metadata: log)
        notifier.notify("Cloud Auto Heal stopped rolling actions on \(service): \(hold). It is unhealthy on several hosts; it needs a person.")
        return HandlerOutcome(checked: 1, acted: 1)
    }
}

/// The reviver's memory between requests: the restart budget per target, which targets an
/// action is running on, and which quarantines were already reported.
actor ReviverState {
    private var budget: RestartBudget
    private var inFlight: Set<TargetKey> = []
    private var releaseWaiters: [TargetKey: [CheckedContinuation<Void, Never>]] = [:]
    private var reported: Set<TargetKey> = []

    init(limits: RestartBudget.Limits, restored: [TargetKey: RestartBudget.Record] = [:]) {
        budget = RestartBudget(limits: limits)
        for (target, record) in restored {
            budget.restore(target, record)
            // A quarantine read back from the journal was reported before the restart.
            if record.quarantined { reported.insert(target) }
        }
    }

    func record(_ target: TargetKey) -> RestartBudget.Record? { budget.record(for: target) }
    var quarantinedCount: Int { budget.allRecords.values.filter(\.quarantined).count }

    /// When this engine's budgets last changed (or were adopted).
    private var lastChange = Date.distantPast
    /// Notes a change now; returns every record, for a snapshot.
    func markChanged() -> ([TargetKey: RestartBudget.Record], Date) {
        lastChange = Date()
        return (budget.allRecords, lastChange)
    }

    /// Adopts another engine's snapshot if it is newer than this engine's last change.
    func adopt(_ snapshot: BudgetSnapshot) -> Bool {
        guard snapshot.at > lastChange else { return false }
        lastChange = snapshot.at
        budget = RestartBudget(limits: budget.limits)
        for (target, record) in snapshot.records {
            budget.restore(target, record)
            if record.quarantined { reported.insert(target) }
        }
        return true
    }

    /// ``recordHealthy(_:now:)``, also saying whether the record changed (to save it).
    func recordHealthyChanged(_ target: TargetKey, now: Date) -> (released: Bool, changed: Bool) {
        let before = budget.record(for: target)
        let released = recordHealthy(target, now: now)
        return (released, budget.record(for: target) != before)
    }

    /// Takes the target for this request; false if another request is working on it.
    func claim(_ target: TargetKey) -> Bool { inFlight.insert(target).inserted }

    /// Claims the target, waiting while another request has it: a targeted request that
    /// arrives while a sweep looks at the same container must look again afterwards, since
    /// the sweep may have seen it before the fault.
    func claimWhenFree(_ target: TargetKey) async {
        while !inFlight.insert(target).inserted {
            await withCheckedContinuation { releaseWaiters[target, default: []].append($0) }
        }
    }

    func release(_ target: TargetKey) {
        inFlight.remove(target)
        releaseWaiters.removeValue(forKey: target)?.forEach { $0.resume() }
    }
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

    private var releasesApplied: [TargetKey: Date] = [:]

    /// Applies an operator's release once: forgets the budget, the report and a rolling hold it caused.
    func applyRelease(_ target: TargetKey, at: Date) -> Bool {
        guard releasesApplied[target].map({ $0 < at }) ?? true else { return false }
        releasesApplied[target] = at
        let hadState = budget.isQuarantined(target) || reported.contains(target) || holds[target.container]?.target == target
        budget.release(target)
        reported.remove(target)
        if holds[target.container]?.target == target { holds[target.container] = nil }
        return hadState
    }

    func quarantine(_ target: TargetKey) {
        budget.quarantine(target)
        reported.insert(target)
    }

    // Rolling: targets waiting for a slot per service, and services held after a failed rolling action.
    private var pendingCount: [String: Int] = [:]
    /// Held services: why, and the target whose action did not help (seeing it healthy lifts the hold).
    private var holds: [String: (why: String, target: TargetKey)] = [:]

    func addPending(_ service: String) { pendingCount[service, default: 0] += 1 }
    func removePending(_ service: String) { pendingCount[service, default: 1] -= 1 }
    func pending(_ service: String) -> Int { pendingCount[service, default: 0] }
    func hold(_ service: String) -> String? { holds[service]?.why }
    func setHold(_ target: TargetKey, _ why: String) { holds[target.container] = (why, target) }
    /// True if the target was the one holding its service, and the hold is lifted.
    func clearHold(_ target: TargetKey) -> Bool {
        guard holds[target.container]?.target == target else { return false }
        holds[target.container] = nil
        return true
    }
}
