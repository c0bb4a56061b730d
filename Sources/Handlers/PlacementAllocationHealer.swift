import AutoHealCore
import DockerAPI
import FoundationEssentials
import Logging
import Policy

/// `allocation_heal`: removes Placement allocations left behind by instances that no longer
/// exist, and creates missing ones, with `nova-manage placement` run by Docker exec in the
/// `[placement] container` (nova_api) on the VIP, or on the first control host that answers.
///
/// 1. `audit --verbose` (reads only): 0 → nothing to do; 3 → every orphaned consumer and its
///    resource provider is logged and journaled;
/// 2. with `delete_orphans`: `audit --delete --verbose` through the ``PolicyExecutor``
///    (target `placement/delete_orphans`), expecting 4; every deleted allocation is logged and
///    journaled with its consumer and provider;
/// 3. with `heal_missing`: `heal_allocations --dry-run --verbose` (reads only) says whether
///    anything is missing; only then `heal_allocations --verbose` through the executor
///    (target `placement/heal_allocations`): 0 created, 4 nothing to do, 1 more remain (the next
///    period goes on). Every created allocation is logged and journaled with its instance.
/// Exit 1, 127, 255 or an undocumented code stops the run with an ERROR line carrying stderr.
///
/// One run at a time, and a burst of requests (a backlog after an engine outage, `autoheal
/// publish` twice) costs at most one more run: see ``RunCoalescer``.
public final class PlacementAllocationHealer: PayloadHandler {
    private let config: AutoHealConfig
    private let observer: Observer
    private let executor: PolicyExecutor
    private let logger: Logger
    private let runs = RunCoalescer()

    /// The budget targets of the two changing steps.
    public static let deleteTarget = TargetKey(host: "placement", container: "delete_orphans")
    public static let healTarget = TargetKey(host: "placement", container: "heal_allocations")

    public init(config: AutoHealConfig, observer: Observer, executor: PolicyExecutor, logger: Logger) {
        self.config = config
        self.observer = observer
        self.executor = executor
        self.logger = logger
    }

    public func handle(_ request: Envelope) async -> HandlerOutcome {
        switch await runs.enter() {
        case .run: break
        case .covered:
            logger.info(
                "covered by an allocation heal run that started after this request arrived: not run again",
                metadata: ["request": "\(request.id)"])
            return HandlerOutcome()
        case .cancelled:
            logger.notice("stopping while waiting for the allocation heal run in flight: not run", metadata: ["request": "\(request.id)"])
            return HandlerOutcome(skipped: 1)
        }
        let outcome = await runOnce(request)
        runs.leave()
        return outcome
    }

    private func runOnce(_ request: Envelope) async -> HandlerOutcome {
        let container = config.placement.container
        guard let host = await firstAnsweringHost(container) else {
            logger.error(
                "no control host answers with a running \(container): allocation heal skipped this period",
                metadata: ["container": "\(container)", "request": "\(request.id)"])
            return HandlerOutcome(checked: 1, failed: 1)
        }
        var logger = logger
        logger[metadataKey: "host"] = "\(host)"
        logger[metadataKey: "container"] = "\(container)"
        let recheck = Envelope(payload: .allocationHeal, scope: .control)
        var outcome = HandlerOutcome(checked: 1)

        // 1. Audit.
        guard let audit = await probe(.placementAudit, on: host, step: "audit", logger: logger) else {
            return HandlerOutcome(checked: 1, failed: 1)
        }
        switch audit.exitCode {
        case 0:
            logger.info("no orphaned allocations", metadata: ["step": "audit"])
            await executor.observe(Self.deleteTarget, healthy: true, seen: "no orphans", logger: logger)
        case 3:
            let report = PlacementAuditReport(parsing: audit.stdout)
            let orphans = await note(report, host: host, logger: logger)
            guard config.placement.deleteOrphans else {
                logger.notice("orphans left in place: [placement] delete_orphans = false", metadata: ["step": "audit"])
                await executor.record(
                    .leftAlone, host: host, target: Self.deleteTarget.container, seen: "\(orphans) orphaned consumer(s)",
                    reason: "[placement] delete_orphans = false", logger: logger)
                break
            }
            await executor.observe(Self.deleteTarget, healthy: false, seen: "\(orphans) orphans", logger: logger)
            let action = HealAction(
                handler: .allocationHeal, kind: .deleteOrphanedAllocations, host: host, container: container, target: Self.deleteTarget,
                seen: "\(orphans) orphaned consumer(s)", reason: "nova-manage placement audit found orphaned allocations (exit 3)",
                service: "placement", recheck: recheck, doneMessage: "nova-manage placement audit --delete done")
            let result = await executor.perform(
                action, logger: logger,
                revalidate: { [observer] in
                    // Another run may have deleted them while this one waited for its turn.
                    (try? await observer.run(.placementAudit, on: host).exitCode) == 3 ? action : nil
                })
            switch result {
            case .done(let output?):
                for allocation in PlacementAuditReport(parsing: output.stdout).deleted {
                    logger.notice(
                        "deleted orphaned allocation",
                        metadata: [
                            "step": "delete", "consumer": "\(allocation.consumer)", "resource_provider": "\(allocation.resourceProvider)",
                            "allocations": "\(allocation.allocations)",
                        ])
                    await executor.record(
                        .changed, host: host, target: "consumer:\(allocation.consumer)", seen: "orphaned",
                        reason: "deleted allocations on resource provider \(allocation.resourceProvider): \(allocation.allocations)",
                        action: "\(action.kind)", result: "ok", logger: logger)
                }
            case .failed(_, let output?):
                failed(step: "delete", output, meaning: NovaManageExit.audit(output.exitCode), logger: logger)
                return outcome + HandlerOutcome(checked: 0, failed: 1)
            case .failed:
                return outcome + HandlerOutcome(checked: 0, failed: 1)
            default:
                break
            }
            outcome = outcome + HandlerOutcome(checked: 0, for: result)
        default:
            failed(step: "audit", audit, meaning: NovaManageExit.audit(audit.exitCode), logger: logger)
            return HandlerOutcome(checked: 1, failed: 1)
        }

        // 2. Heal missing allocations.
        guard config.placement.healMissing else { return outcome }
        return outcome + (await healMissing(on: host, recheck: recheck, logger: logger))
    }

    private func healMissing(on host: String, recheck: Envelope, logger: Logger) async -> HandlerOutcome {
        guard let dryRun = await probe(.placementHealDryRun, on: host, step: "heal --dry-run", logger: logger) else {
            return HandlerOutcome(failed: 1)
        }
        let missing = HealAllocationsReport(parsing: dryRun.stdout).wouldCreate
        guard [0, 1].contains(dryRun.exitCode) || (dryRun.exitCode == 4 && !missing.isEmpty) else {
            guard dryRun.exitCode == 4 else {
                failed(step: "heal --dry-run", dryRun, meaning: NovaManageExit.healAllocations(dryRun.exitCode), logger: logger)
                return HandlerOutcome(failed: 1)
            }
            logger.info("no missing allocations", metadata: ["step": "heal --dry-run"])
            await executor.observe(Self.healTarget, healthy: true, seen: "nothing missing", logger: logger)
            return HandlerOutcome()
        }
        for instance in missing {
            logger.warning("instance without allocations", metadata: ["step": "heal --dry-run", "instance": "\(instance)"])
            await executor.record(
                .found, host: host, target: "instance:\(instance)", seen: "no allocations",
                reason: "heal_allocations --dry-run would create its allocations", logger: logger)
        }
        await executor.observe(Self.healTarget, healthy: false, seen: "\(missing.count) missing", logger: logger)
        let action = HealAction(
            handler: .allocationHeal, kind: .healMissingAllocations, host: host, container: config.placement.container,
            target: Self.healTarget, seen: "\(missing.count) instance(s) without allocations",
            reason: "heal_allocations --dry-run exit \(dryRun.exitCode)", service: "placement", recheck: recheck,
            doneMessage: "nova-manage placement heal_allocations done")
        let result = await executor.perform(action, logger: logger)
        switch result {
        case .done(let output?):
            for instance in HealAllocationsReport(parsing: output.stdout).created {
                logger.notice("created missing allocations", metadata: ["step": "heal", "instance": "\(instance)"])
                await executor.record(
                    .changed, host: host, target: "instance:\(instance)", seen: "no allocations",
                    reason: "allocations created", action: "\(action.kind)", result: "ok", logger: logger)
            }
            if output.exitCode == 1 {
                logger.warning(
                    "more instances remain to heal; the next period goes on",
                    metadata: ["step": "heal", "meaning": "\(NovaManageExit.healAllocations(1))"])
            }
        case .failed(_, let output?):
            failed(step: "heal", output, meaning: NovaManageExit.healAllocations(output.exitCode), logger: logger)
        default:
            break
        }
        return HandlerOutcome(checked: 0, for: result)
    }

    /// Logs and journals every orphan of an audit; returns how many consumers it names.
    private func note(_ report: PlacementAuditReport, host: String, logger: Logger) async -> Int {
        var consumers = Set<String>()
        for allocation in report.deletable {
            consumers.insert(allocation.consumer)
            logger.warning(
                "orphaned allocation",
                metadata: [
                    "step": "audit", "consumer": "\(allocation.consumer)", "resource_provider": "\(allocation.resourceProvider)",
                    "allocations": "\(allocation.allocations)",
                ])
            await executor.record(
                .found, host: host, target: "consumer:\(allocation.consumer)", seen: "orphaned",
                reason: "allocations on resource provider \(allocation.resourceProvider) can be deleted: \(allocation.allocations)",
                logger: logger)
        }
        for consumer in report.orphanedConsumers where !consumers.contains(consumer) {
            consumers.insert(consumer)
            logger.warning("orphaned allocation", metadata: ["step": "audit", "consumer": "\(consumer)"])
            await executor.record(
                .found, host: host, target: "consumer:\(consumer)", seen: "orphaned",
                reason: "allocations with no instance or migration", logger: logger)
        }
        if consumers.isEmpty {
            logger.warning(
                "audit exit 3 (orphans found) but its output names none",
                metadata: ["step": "audit", "stdout": "\(report.unrecognized.joined(separator: " | ").prefix(500))"])
        }
        return consumers.count
    }

    /// The VIP first, then the control hosts in order: the first whose container runs.
    private func firstAnsweringHost(_ container: String) async -> String? {
        var names: [String] = []
        if let vip = config.hosts.vip { names.append(vip.name) }
        names += config.hosts.control.map(\.name).filter { !names.contains($0) }
        for name in names {
            do {
                let details = try await observer.inspect(container, on: name)
                if details.state.status == "running" { return name }
                logger.warning(
                    "\(container) is not running here; trying the next control host",
                    metadata: ["host": "\(name)", "container": "\(container)", "seen": "\(details.observation.summary)"])
            } catch {
                logger.warning(
                    "host does not answer; trying the next control host",
                    metadata: ["host": "\(name)", "container": "\(container)", "error": "\(error)"])
            }
        }
        return nil
    }

    /// Runs a read-only nova-manage command and logs it; nil (after an ERROR line) if it did not run to an exit code.
    private func probe(_ probe: Observer.Probe, on host: String, step: String, logger: Logger) async -> ExecResult? {
        var logger = logger
        logger[metadataKey: "step"] = "\(step)"
        logger[metadataKey: "command"] = "\(observer.command(for: probe))"
        let clock = ContinuousClock()
        let started = clock.now
        do {
            let result = try await observer.run(probe, on: host)
            logger.info("ran nova-manage", metadata: ["exit_code": "\(result.exitCode)", "duration": "\(result.duration.logDescription)"])
            return result
        } catch {
            logger.error(
                "nova-manage did not complete",
                metadata: [
                    "result": "failed", "duration": "\((clock.now - started).logDescription)", "error": "\(error)",
                ])
            return nil
        }
    }

    private func failed(step: String, _ result: ExecResult, meaning: String, logger: Logger) {
        logger.error(
            "nova-manage failed: \(meaning); no further step this period",
            metadata: [
                "step": "\(step)", "exit_code": "\(result.exitCode)", "meaning": "\(meaning)",
                "error": "\(NovaManageExit.errorSummary(stdout: result.stdout, stderr: result.stderr))",
                "stderr": "\(result.stderr.trimmingWhitespace().suffix(2000))",
            ])
    }
}
