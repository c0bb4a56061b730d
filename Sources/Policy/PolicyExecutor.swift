import AutoHealCore
import DockerAPI
import FoundationEssentials
import Journal
import Logging
import NovaAPI

/// The one place every action of every handler goes through, so that the healer never makes
/// an outage worse whichever handler asks.
///
/// Handlers observe and decide; they describe what they want as a ``HealAction`` and call
/// ``perform(_:logger:revalidate:settled:)``. Before anything changes, in this order:
///
/// 1. **Pause**: `[policy] pause_file` exists, `autoheal pause` is in force, or
///    `autoheal pause --target` names the action's target or the container it runs in →
///    "healing paused: would …", journal `paused`. Until the shared state has been read from
///    the broker once, everything counts as paused.
/// 2. **Dry run** (`[policy] dry_run`) → "dry run: would …", journal `dry_run`.
/// 3. **Restart budget** of the target: quarantined → one ERROR line and one notification,
///    journal `quarantined`; backing off → journal `backing_off`, and the target is looked
///    at again when the back-off ends (``Requeuer``), not at the next sweep.
/// 4. **Rolling**: a held service is not acted on (journal `held`); otherwise the action
///    waits for a slot (`max_parallel_per_service`, `max_parallel_actions`), and if it had
///    to wait the handler's `revalidate` says what (if anything) is still to do.
///
/// Then the attempt is recorded (journal, and the broker's state stream, confirmed before
/// the action so an engine taking over knows it), the action runs through the host's
/// ``ContainerRuntime``, and the result is logged, journaled and counted. When other hosts
/// wait for the same service, the slot is kept until the handler's `settled` says the target
/// is healthy again; if it is not within `rolling_wait`, the service is held on every host
/// and a person is notified. Every quarantine and every hold is notified once.
public final class PolicyExecutor: Sendable {
    private let config: AutoHealConfig
    private let runtimes: any ContainerRuntimes
    private let nova: (any NovaCompute)?
    private let fencer: any FenceRunner
    private let state: PolicyState
    private let slots: ActionSlots
    private let journal: DecisionJournal?
    private let notifier: any Notifier
    private let requeuer: any Requeuer
    private let publisher: (any StatePublisher)?
    /// Logs what comes from the shared state (pauses, releases, ignored messages).
    private let logger: Logger
    /// A checkpoint is written after this many state messages without one.
    private let checkpointEvery: Int

    /// - Parameters:
    ///   - identity: this engine's name in the shared state (host-pid).
    ///   - publisher: where budget changes and checkpoints go; nil keeps them local (tests).
    ///   - readsSharedState: false for an executor with no broker behind it (tests, the
    ///     benchmark): it does not wait for the shared state before its first action.
    ///   - nova: the Nova API, for forcing a service down and evacuating (nil: no such action).
    ///   - fencer: runs `[host_failure] fence`.
    public init(
        config: AutoHealConfig, runtimes: any ContainerRuntimes, nova: (any NovaCompute)? = nil,
        fencer: any FenceRunner = ProcessFenceRunner(), identity: String, journal: DecisionJournal? = nil,
        notifier: any Notifier = SilentNotifier(), requeuer: any Requeuer = NoRequeue(), publisher: (any StatePublisher)? = nil,
        readsSharedState: Bool = true, checkpointEvery: Int = 10_000, logger: Logger
    ) {
        self.config = config
        self.runtimes = runtimes
        self.nova = nova
        self.fencer = fencer
        self.journal = journal
        self.notifier = notifier
        self.requeuer = requeuer
        self.publisher = publisher
        self.checkpointEvery = checkpointEvery
        self.logger = logger
        state = PolicyState(identity: identity, limits: RestartBudget.Limits(config.policy), caughtUp: !readsSharedState)
        slots = ActionSlots(perService: config.policy.maxParallelPerService, total: config.policy.maxParallelActions)
    }

    private var policy: AutoHealConfig.Policy { config.policy }

    // MARK: - Acting

    /// Applies the policy to `action` and, if it allows, performs it. See the type's documentation.
    ///
    /// - Parameters:
    ///   - logger: the handler's logger; the action's host, container, seen state, kind and
    ///     reason are added to it.
    ///   - revalidate: asked after waiting for a rolling slot, since the target may have
    ///     changed meanwhile: the action to take now, or nil when it needs none any more.
    ///   - settled: whether the target is healthy again; with it, the slot is kept until then
    ///     while other hosts wait for the same service.
    public func perform(
        _ action: HealAction, logger: Logger, revalidate: (@Sendable () async -> HealAction?)? = nil,
        settled: (@Sendable () async -> Bool)? = nil
    ) async -> ActionOutcome {
        var logger = logger
        logger[metadataKey: "host"] = "\(action.host)"
        logger[metadataKey: "container"] = "\(action.container)"
        if action.target.container != action.container { logger[metadataKey: "target"] = "\(action.target.container)" }
        logger[metadataKey: "seen"] = "\(action.seen)"
        logger[metadataKey: "action"] = "\(action.kind)"
        logger[metadataKey: "reason"] = "\(action.reason)"

        // 1. Pause and exclusions.
        if let pause = await pauseReason(for: action.exclusionKeys) {
            logger.notice("healing paused: would \(action.kind.phrase)", metadata: ["pause": "\(pause)"])
            await refused(action, .paused, reason: pause, result: "paused", logger: logger)
            return .refused(.paused(pause))
        }
        // 2. Dry run.
        if policy.dryRun {
            logger.notice("dry run: would \(action.kind.phrase)")
            await refused(action, .dryRun, reason: action.reason, result: "dry_run", logger: logger)
            return .refused(.dryRun)
        }
        // 3. Restart budget.
        if let from = await state.takeover(action.target) {
            logger.notice("restart budget taken over from another engine", metadata: ["from": "\(from)"])
        }
        let now = Date()
        switch await state.verdict(action.target, now: now) {
        case .quarantined:
            await quarantined(action, logger: logger)
            return .refused(.quarantined)
        case .backingOff(let until):
            logger.info("backing off before the next action", metadata: ["until": "\(Envelope.formatDate(until))"])
            await refused(action, .backingOff, reason: "next action allowed at \(Envelope.formatDate(until))", logger: logger)
            // A little after the end, so the request does not arrive a hair too early.
            if let recheck = action.recheck {
                requeuer.lookAgain(recheck, at: .now + .seconds(until.timeIntervalSince(Date())) + .milliseconds(20))
            }
            return .refused(.backingOff(until: until))
        case .allowed(let attempt):
            logger[metadataKey: "attempt"] = "\(attempt)/\(policy.maxAttempts)"
        }
        // 4. Rolling slots.
        if let held = await heldRefusal(action, logger: logger) { return held }
        if let service = action.service { await state.addPending(service) }
        let turn = await slots.acquire(action.service, limit: action.serviceLimit)
        if let service = action.service { await state.removePending(service) }
        guard turn != .cancelled else {
            logger.notice("stopping while the action waited for a rolling slot: not acted")
            return .refused(.cancelled)
        }
        let outcome = await performHoldingSlot(
            action, waited: turn == .afterWaiting, logger: logger, revalidate: revalidate, settled: settled)
        slots.release(action.service)
        return outcome
    }

    private func performHoldingSlot(
        _ action: HealAction, waited: Bool, logger: Logger, revalidate: (@Sendable () async -> HealAction?)?,
        settled: (@Sendable () async -> Bool)?
    ) async -> ActionOutcome {
        var action = action
        var logger = logger
        var waited = waited
        if let service = action.service, let earlier = await state.takeSettling(service), earlier.action.target != action.target {
            // The last action on this service, on another host, may not have made it healthy yet.
            await holdUntilSettled(earlier.action, service: service, settled: earlier.settled, logger: earlier.logger)
            waited = true
        }
        if waited {
            if let held = await heldRefusal(action, logger: logger) { return held }
            if let revalidate {
                guard let fresh = await revalidate() else {
                    logger.info("no longer needs an action after waiting for its turn")
                    await record(
                        .notNeeded, host: action.host, target: action.target.container, seen: action.seen,
                        reason: "fine again after waiting for a rolling slot", action: "\(action.kind)", logger: logger)
                    return .refused(.noLongerNeeded)
                }
                action = fresh
                logger[metadataKey: "seen"] = "\(action.seen)"
                logger[metadataKey: "action"] = "\(action.kind)"
                logger[metadataKey: "reason"] = "\(action.reason)"
            }
        }
        // Act, with the attempt recorded first.
        await persist(await state.recordAction(action.target, now: Date()), logger: logger)
        logger.debug("attempt kept; acting")
        let outcome = await run(action, logger: logger)
        guard case .done = outcome, let service = action.service, let settled else { return outcome }
        if await state.pending(service) > 0 {
            await holdUntilSettled(action, service: service, settled: settled, logger: logger)
        } else {
            // Nobody waits now; an action on another host that comes before this one is healthy
            // again waits for it then (its inspect may simply have been slower than this action).
            await state.setSettling(service, .init(action: action, settled: settled, logger: logger))
        }
        return outcome
    }

    /// Why nothing may change now for these targets, or nil. Waits (at most 10 s) for the
    /// shared state to be read once: an engine that starts during a pause must not act in
    /// the seconds before it knows.
    public func pauseReason(for targets: [TargetKey]) async -> String? {
        if !(await state.waitUntilCaughtUp(timeout: .seconds(10))) {
            return "the shared state (pauses, exclusions, budgets) has not been read from the broker yet"
        }
        if let file = policy.pauseFile, FileManager.default.fileExists(atPath: file) {
            let text = (try? String(contentsOfFile: file, encoding: .utf8))?.trimmingWhitespace() ?? ""
            return "pause_file \(file) exists\(text.isEmpty ? "" : ": \(text.prefix(200))")"
        }
        return await state.pauseReason(for: targets, now: Date())
    }

    private func heldRefusal(_ action: HealAction, logger: Logger) async -> ActionOutcome? {
        guard let service = action.service, let hold = await state.hold(service) else { return nil }
        logger.warning("rolling held for this service: not acting (needs a person)", metadata: ["hold": "\(hold)"])
        await refused(action, .held, reason: hold, logger: logger)
        return .refused(.held(hold))
    }

    private func quarantined(_ action: HealAction, logger: Logger) async {
        let window = "\(policy.maxAttempts) actions within \(policy.attemptWindowSeconds)s"
        await refused(action, .quarantined, reason: "\(window) did not fix it", logger: logger)
        guard await state.markReported(action.target) else {
            logger.warning("still quarantined: needs a person")
            return
        }
        logger.error(
            "\(action.subject) needs a person: \(window) did not bring it back; quarantined until it is healthy for \(policy.healthyResetSeconds)s or released (autoheal release \(action.target))"
        )
        notifier.notify(
            "Cloud Auto Heal gave up on \(action.target) (\(action.seen)): \(window) (\(action.kind)) did not bring it back. It needs a person; `autoheal release \(action.target)` lets the healer try again."
        )
    }

    /// Performs the action through its host's runtime and records the result.
    private func run(_ action: HealAction, logger: Logger) async -> ActionOutcome {
        var logger = logger
        if action.kind == .restart {
            logger.info(
                "restarting container (Docker waits up to stop_timeout for it to stop)",
                metadata: ["stop_timeout": "\(config.engine.stopTimeoutSeconds)s"])
        }
        let clock = ContinuousClock()
        let started = clock.now
        var output: ExecResult? = nil
        var failure: String? = nil
        do {
            output = try await execute(action, logger: &logger)
            if let output, let success = execution(of: action.kind)?.success, !success.contains(output.exitCode) {
                failure = "exit code \(output.exitCode)"
                logger[metadataKey: "stderr"] = "\(output.stderr.trimmingWhitespace().suffix(2000))"
            }
        } catch {
            failure = "\(error)"
        }
        let duration = clock.now - started
        logger[metadataKey: "duration"] = "\(duration.logDescription)"
        if let failure {
            logger[metadataKey: "result"] = "failed"
            logger.error("action failed", metadata: ["error": "\(failure)"])
            HealMetrics.action(handler: action.handler.rawValue, kind: "\(action.kind)", result: "failed")
            await record(
                .act, host: action.host, target: action.target.container, seen: action.seen,
                reason: "\(action.reason); \(failure)", action: "\(action.kind)", result: "failed", duration: duration,
                logger: logger)
            return .failed(failure, output)
        }
        logger[metadataKey: "result"] = "ok"
        logger.notice("\(action.doneMessage)")
        HealMetrics.action(handler: action.handler.rawValue, kind: "\(action.kind)", result: "done")
        await record(
            .act, host: action.host, target: action.target.container, seen: action.seen, reason: action.reason,
            action: "\(action.kind)", result: "ok", duration: duration, logger: logger)
        return .done(output)
    }

    /// Carries out an action on its host's runtime, the Nova API or the fence command; the
    /// command's output for an action run by exec (or the fence command).
    private func execute(_ action: HealAction, logger: inout Logger) async throws -> ExecResult? {
        switch action.kind {
        case .start, .unpause, .restart:
            let runtime = try runtime(action.host)
            switch action.kind {
            case .start: try await runtime.startContainer(action.container)
            case .unpause: try await runtime.unpauseContainer(action.container)
            default: try await runtime.restartContainer(action.container, stopTimeout: config.engine.stopTimeoutSeconds)
            }
            return nil
        case .resumeDomain, .wakeDomain, .deleteOrphanedAllocations, .healMissingAllocations:
            let (command, timeout, _) = execution(of: action.kind)!
            logger[metadataKey: "command"] = "\(command.joined(separator: " "))"
            let result = try await runtime(action.host).exec(action.container, command: command, timeout: timeout)
            logger[metadataKey: "exit_code"] = "\(result.exitCode)"
            return result
        case .fence:
            guard case .command(let words)? = config.hostFailure.fence else {
                throw ActionError("no fence command: [host_failure] fence is \(config.hostFailure.fence == nil ? "not set" : "none")")
            }
            let command = ProcessFenceRunner.command(words, host: action.host)
            logger[metadataKey: "command"] = "\(command.joined(separator: " "))"
            let result = await fencer.run(command, timeout: .seconds(config.hostFailure.fenceTimeoutSeconds))
            if let failure = result.failure {
                throw ActionError("\(failure)\(result.output.isEmpty ? "" : "; output: \(result.output.suffix(500))")")
            }
            logger[metadataKey: "exit_code"] = "\(result.exitCode ?? -1)"
            return ExecResult(exitCode: Int(result.exitCode ?? -1), stdout: result.output, stderr: result.output)
        case .forceDown(let id), .unsetForcedDown(let id):
            guard let nova else { throw ActionError("no Nova API configured ([nova])") }
            try await nova.setForcedDown(serviceID: id, action.kind == .forceDown(serviceID: id))
            return nil
        case .evacuate(let server):
            guard let nova else { throw ActionError("no Nova API configured ([nova])") }
            try await nova.evacuate(serverID: server)
            return nil
        }
    }

    private func runtime(_ host: String) throws -> any ContainerRuntime {
        guard let runtime = runtimes.runtime(forHost: host) else { throw ActionError("no Docker client for host \(host)") }
        return runtime
    }

    /// The command line, deadline and successful exit codes of an action run as a command.
    private func execution(of kind: HealAction.Kind) -> (command: [String], timeout: Duration, success: Set<Int>)? {
        let libvirt = Duration.seconds(config.libvirt.commandTimeoutSeconds)
        let placement = Duration.seconds(config.placement.commandTimeoutSeconds)
        switch kind {
        case .resumeDomain(let uuid): return (["virsh", "resume", uuid], libvirt, [0])
        case .wakeDomain(let uuid): return (["virsh", "dompmwakeup", uuid], libvirt, [0])
        // 4: orphans deleted; 0: none left to delete (another run got them first).
        case .deleteOrphanedAllocations: return (["nova-manage", "placement", "audit", "--delete", "--verbose"], placement, [0, 4])
        // 0: created; 4: nothing to do; 1: max count reached, more remain (the next run goes on).
        case .healMissingAllocations:
            let skipPorts = config.placement.skipPortAllocations ? ["--skip-port-allocations"] : []
            return (["nova-manage", "placement", "heal_allocations", "--verbose"] + skipPorts, placement, [0, 1, 4])
        // The fence must say it worked.
        case .fence: return ([], .seconds(config.hostFailure.fenceTimeoutSeconds), [0])
        case .start, .unpause, .restart, .forceDown, .unsetForcedDown, .evacuate: return nil
        }
    }

    /// Keeps the rolling slot until `settled`, at most `rolling_wait`; then holds the service.
    private func holdUntilSettled(
        _ action: HealAction, service: String, settled: @Sendable () async -> Bool, logger: Logger
    ) async {
        let clock = ContinuousClock()
        let started = clock.now
        let deadline = started + .seconds(policy.rollingWaitSeconds)
        while clock.now < deadline {
            if await settled() {
                logger.info(
                    "healthy again: the next host may act on this service",
                    metadata: ["waited": "\((clock.now - started).logDescription)"])
                return
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
        let why =
            "\(action.kind) of \(service) on \(action.host) did not make it healthy within rolling_wait (\(policy.rollingWaitSeconds)s)"
        await persist(await state.hold(action.target, service: service, why: why, now: Date()), logger: logger)
        await record(
            .held, host: action.host, target: action.target.container, seen: action.seen, reason: why,
            action: "\(action.kind)", result: "ok", logger: logger)
        logger.error("rolling action did not help: not acting on \(service) on the other hosts; it needs a person")
        notifier.notify(
            "Cloud Auto Heal stopped rolling actions on \(service): \(why). It is unhealthy on several hosts; it needs a person.")
    }

    // MARK: - Observing

    /// What a handler saw of a target that wants no action, or that needs one: a healthy
    /// target builds the streak that forgets its attempts and ends a quarantine or a rolling
    /// hold; an unhealthy one breaks it.
    public func observe(_ target: TargetKey, healthy: Bool, seen: String, logger: Logger) async {
        if await state.takeReleaseNote(target) {
            logger.notice("released by an operator: budget and quarantine forgotten")
        }
        let now = Date()
        guard healthy else {
            await persist(await state.recordUnhealthy(target, now: now), logger: logger)
            return
        }
        let (released, holdLifted, entry) = await state.recordHealthy(target, now: now)
        await persist(entry, logger: logger)
        if holdLifted {
            logger.notice("service healthy again where the rolling action was held: rolling actions on it resume")
        }
        if released {
            logger.notice("quarantined target has been healthy for healthy_reset: released")
            await record(
                .recovered, host: target.host, target: target.container, seen: seen, reason: "healthy for healthy_reset",
                logger: logger)
            notifier.notify("Cloud Auto Heal: \(target) is healthy again and released from quarantine.")
        }
    }

    /// Journals a decision that is not an action (waiting, leaving alone, what an action found
    /// or changed). A failing journal is a WARNING, never a reason not to heal.
    public func record(
        _ decision: JournalDecision, host: String, target: String, seen: String, reason: String, action: String = "",
        result: String = "", duration: Duration? = nil, logger: Logger
    ) async {
        guard let journal else { return }
        do {
            try await journal.record(
                JournalEntry(
                    host: host, target: target, seen: seen, decision: decision, reason: reason, action: action, result: result,
                    duration: duration?.timeInterval))
        } catch {
            logger.warning("cannot write the journal", metadata: ["error": "\(error)", "journal": "\(journal.path)"])
        }
    }

    /// Tells a person what a handler found and cannot fix, or did, through `[notify]`.
    public func notify(_ text: String) { notifier.notify(text) }

    /// Asks for `request` to be handled again at `at` (a target left waiting).
    public func lookAgain(_ request: Envelope, at: ContinuousClock.Instant) { requeuer.lookAgain(request, at: at) }

    private func refused(
        _ action: HealAction, _ decision: JournalDecision, reason: String, result: String? = nil, logger: Logger
    ) async {
        if let result { HealMetrics.action(handler: action.handler.rawValue, kind: "\(action.kind)", result: result) }
        await record(
            decision, host: action.host, target: action.target.container, seen: action.seen, reason: reason,
            action: "\(action.kind)", logger: logger)
    }

    /// Saves a budget change in the journal and leaves it on the broker, confirmed: both at
    /// once, and both done before this returns (an action waits for its attempt to be kept).
    private func persist(_ entry: BudgetEntry?, logger: Logger) async {
        guard let entry else { return }
        async let saved: Void = save(entry, logger: logger)
        if let publisher {
            do {
                try await publisher.publish(.budget(entry))
            } catch {
                logger.warning(
                    "cannot leave the restart budget on the broker; another engine taking over would not see it",
                    metadata: ["error": "\(error)", "target": "\(entry.key)"])
            }
        }
        await saved
    }

    private func save(_ entry: BudgetEntry, logger: Logger) async {
        guard let journal else { return }
        do {
            try await journal.saveBudget(entry)
        } catch {
            logger.warning("cannot save the restart budget", metadata: ["error": "\(error)", "journal": "\(journal.path)"])
        }
    }

    // MARK: - The shared state

    /// Applies the state stream's message at `offset` (in the broker's order).
    public func apply(_ body: [UInt8], offset: Int64) async {
        let (effects, checkpointDue) = await state.apply(body, offset: offset, now: Date(), checkpointEvery: checkpointEvery)
        let live = await state.waitUntilCaughtUp(timeout: .zero)
        for effect in effects { await report(effect, live: live) }
        if checkpointDue, let publisher {
            do {
                try await publisher.publish(.checkpoint(await state.checkpoint(now: Date())))
                logger.info("checkpoint of the shared state written", metadata: ["offset": "\(offset)"])
            } catch {
                logger.warning("cannot write a checkpoint of the shared state", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The state stream has been read up to this engine's marker at `offset`: actions may start.
    public func caughtUp(at offset: Int64) async {
        await state.caughtUp(at: offset)
        let now = Date()
        let shared = await state.shared
        logger.notice(
            "shared state read from the broker",
            metadata: [
                "offset": "\(offset)", "pauses": "\(shared.activePauses(now: now).count)",
                "budgets": "\(shared.budget.allRecords.count)", "quarantined": "\(shared.quarantined.count)",
            ])
        for pause in shared.activePauses(now: now) { await report(.paused(pause), live: true) }
    }

    /// Puts back the budgets of this engine's journal (before the stream is read).
    public func restore(_ entries: [BudgetEntry]) async { await state.restore(entries) }

    /// Targets whose budget is spent right now.
    public func quarantinedCount() async -> Int { await state.quarantinedCount }

    /// Logs (and journals) what a state message changed. Before the stream has been read to
    /// the end, replayed history is applied quietly.
    private func report(_ effect: SharedState.Effect, live: Bool) async {
        switch effect {
        case .paused(let notice) where live:
            logger.notice(
                notice.target == nil ? "healing paused: engines observe and log, and act on nothing" : "target excluded from healing",
                metadata: ["pause": "\(notice.summary)"])
        case .resumed(let notice) where live:
            logger.notice(
                notice.target == nil ? "healing resumed" : "target included again",
                metadata: ["by": "\(notice.by)", "target": "\(notice.target.map { "\($0)" } ?? "all")"])
        case .released(let target, let hadBudget) where hadBudget || live:
            logger.notice(
                "operator release applied: budget and quarantine forgotten",
                metadata: ["host": "\(target.host)", "container": "\(target.container)"])
            await record(.released, host: target.host, target: target.container, seen: "", reason: "autoheal release", logger: logger)
            if let journal, let stamp = await state.shared.stamps[target] {
                try? await journal.saveBudget(BudgetEntry(key: target, record: nil, stamp: stamp, at: Date()))
            }
        case .adopted(let entry):
            logger.debug("budget taken over from another engine", metadata: ["target": "\(entry.key)", "from": "\(entry.by)"])
            try? await journal?.saveBudget(entry)
        case .ignored(let why):
            logger.warning("shared state message ignored", metadata: ["reason": "\(why)"])
        default:
            break
        }
    }
}

/// Why an action could not be carried out (besides the client errors of Docker and Nova).
struct ActionError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// What became of an action the executor was asked to perform.
public enum ActionOutcome: Sendable, Equatable {
    /// Performed; the command's output for an action run by exec.
    case done(ExecResult?)
    /// Performed and failed: why, and the command's output if it ran.
    case failed(String, ExecResult?)
    /// Not performed: the policy said no.
    case refused(Refusal)

    public enum Refusal: Sendable, Equatable {
        case paused(String)
        case dryRun
        case backingOff(until: Date)
        case quarantined
        case held(String)
        /// The target was fine again after waiting for a rolling slot.
        case noLongerNeeded
        /// The engine is stopping (the task was cancelled while it waited for a slot); the
        /// request is not acked, so it comes again.
        case cancelled
    }
}

extension HealAction {
    /// "container", "domain", "placement": what an ERROR line says needs a person.
    var subject: String {
        if target.container.hasPrefix("domain:") { return "domain" }
        if handler == .computeHostFailure { return target.container == "host" ? "compute host" : "evacuation of \(target.container)" }
        if handler == .allocationHeal { return "placement \(target.container)" }
        return "container"
    }
}
