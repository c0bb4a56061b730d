import Foundation
import AutoHealCore
import DockerAPI
import Logging

/// `allocation_heal`: removes Placement allocations left behind by instances that no longer
/// exist, and creates missing ones, with `nova-manage placement` run by Docker exec in the
/// `[placement] container` (nova_api) on the VIP, or on the first control host that answers.
///
/// 1. `audit --verbose`: 0 → nothing to do; 3 → log every orphan (consumer, resource provider);
/// 2. with `delete_orphans`: `audit --delete --verbose`, expecting 4; log every deleted allocation;
/// 3. with `heal_missing`: `heal_allocations --verbose`: 0 created, 4 nothing to do, 1 more remain
///    (the next period goes on), anything else an error named by its documented meaning.
/// Exit 1, 127, 255 or an undocumented code stops the run with an ERROR line carrying stderr.
public final class PlacementAllocationHealer: PayloadHandler {
    private let config: AutoHealConfig
    private let docker: DockerHosts
    private let logger: Logger

    public init(config: AutoHealConfig, docker: DockerHosts, logger: Logger) {
        self.config = config
        self.docker = docker
        self.logger = logger
    }

    public func handle(_ request: Envelope) async -> HandlerOutcome {
        let container = config.placement.container
        guard let client = await firstAnsweringHost(container) else {
            logger.error("no control host answers with a running \(container): allocation heal skipped this period",
                         metadata: ["container": "\(container)", "request": "\(request.id)"])
            return HandlerOutcome(checked: 1, failed: 1)
        }

        // 1. Audit.
        guard let audit = await run(client, ["placement", "audit", "--verbose"], step: "audit") else {
            return HandlerOutcome(checked: 1, failed: 1)
        }
        var outcome = HandlerOutcome(checked: 1)
        switch audit.exitCode {
        case 0:
            logger.info("no orphaned allocations", metadata: meta(client, step: "audit"))
        case 3:
            let report = PlacementAuditReport(parsing: audit.stdout)
            for allocation in report.deletable {
                logger.warning("orphaned allocation", metadata: meta(client, step: "audit").merging([
                    "consumer": "\(allocation.consumer)", "resource_provider": "\(allocation.resourceProvider)",
                    "allocations": "\(allocation.allocations)",
                ]) { $1 })
            }
            for consumer in report.orphanedConsumers where !report.deletable.contains(where: { $0.consumer == consumer }) {
                logger.warning("orphaned allocation", metadata: meta(client, step: "audit").merging(["consumer": "\(consumer)"]) { $1 })
            }
            if report.orphanedConsumers.isEmpty && report.deletable.isEmpty {
                logger.warning("audit exit 3 (orphans found) but its output names none",
                               metadata: meta(client, step: "audit").merging(["stdout": "\(audit.stdout.prefix(500))"]) { $1 })
            }
            if config.placement.deleteOrphans {
                guard let deletion = await run(client, ["placement", "audit", "--delete", "--verbose"], step: "delete") else {
                    outcome.failed += 1
                    return outcome
                }
                guard deletion.exitCode == 4 || deletion.exitCode == 0 else {
                    failed(client, step: "delete", deletion, meaning: NovaManageExit.audit(deletion.exitCode))
                    outcome.failed += 1
                    return outcome
                }
                for allocation in PlacementAuditReport(parsing: deletion.stdout).deleted {
                    logger.notice("deleted orphaned allocation", metadata: meta(client, step: "delete").merging([
                        "consumer": "\(allocation.consumer)", "resource_provider": "\(allocation.resourceProvider)",
                        "allocations": "\(allocation.allocations)",
                    ]) { $1 })
                }
                outcome.acted += 1
            } else {
                logger.notice("orphans left in place: [placement] delete_orphans = false", metadata: meta(client, step: "audit"))
            }
        default:
            failed(client, step: "audit", audit, meaning: NovaManageExit.audit(audit.exitCode))
            outcome.failed += 1
            return outcome
        }

        // 3. Heal missing allocations.
        guard config.placement.healMissing else { return outcome }
        guard let heal = await run(client, ["placement", "heal_allocations", "--verbose"], step: "heal") else {
            outcome.failed += 1
            return outcome
        }
        let meaning = NovaManageExit.healAllocations(heal.exitCode)
        switch heal.exitCode {
        case 0:
            logger.notice("missing allocations created", metadata: meta(client, step: "heal").merging(["meaning": "\(meaning)"]) { $1 })
            outcome.acted += 1
        case 4:
            logger.info("no missing allocations", metadata: meta(client, step: "heal"))
        case 1:
            logger.warning("more instances remain to heal; the next period goes on",
                           metadata: meta(client, step: "heal").merging(["meaning": "\(meaning)"]) { $1 })
            outcome.acted += 1
        default:
            failed(client, step: "heal", heal, meaning: meaning)
            outcome.failed += 1
        }
        return outcome
    }

    private func meta(_ client: DockerClient, step: String) -> Logger.Metadata {
        ["host": "\(client.host)", "container": "\(config.placement.container)", "step": "\(step)"]
    }

    /// The VIP first, then the control hosts in order: the first whose container runs.
    private func firstAnsweringHost(_ container: String) async -> DockerClient? {
        var names: [String] = []
        if let vip = config.hosts.vip { names.append(vip.name) }
        names += config.hosts.control.map(\.name).filter { !names.contains($0) }
        for name in names {
            guard let client = docker.client(forHost: name) else { continue }
            do {
                let details = try await client.inspectContainer(container)
                if details.state.status == "running" { return client }
                logger.warning("\(container) is not running here; trying the next control host",
                               metadata: ["host": "\(name)", "container": "\(container)", "seen": "\(details.observation.summary)"])
            } catch {
                logger.warning("host does not answer; trying the next control host",
                               metadata: ["host": "\(name)", "container": "\(container)", "error": "\(error)"])
            }
        }
        return nil
    }

    /// Runs `nova-manage ARGS` and logs the step; nil (after an ERROR line) if it did not run to an exit code.
    private func run(_ client: DockerClient, _ arguments: [String], step: String) async -> ExecResult? {
        let command = ["nova-manage"] + arguments
        var log = meta(client, step: step)
        log["command"] = "\(command.joined(separator: " "))"
        let clock = ContinuousClock()
        let started = clock.now
        do {
            let result = try await client.exec(
                config.placement.container, command: command, timeout: .seconds(config.placement.commandTimeoutSeconds))
            log["exit_code"] = "\(result.exitCode)"
            log["duration"] = "\(result.duration.logDescription)"
            logger.info("ran nova-manage", metadata: log)
            HealMetrics.action(handler: Payload.allocationHeal.rawValue, kind: step, result: "done")
            return result
        } catch {
            log["result"] = "failed"
            log["duration"] = "\((clock.now - started).logDescription)"
            log["error"] = "\(error)"
            logger.error("nova-manage did not complete", metadata: log)
            HealMetrics.action(handler: Payload.allocationHeal.rawValue, kind: step, result: "failed")
            return nil
        }
    }

    private func failed(_ client: DockerClient, step: String, _ result: ExecResult, meaning: String) {
        logger.error("nova-manage failed: \(meaning); no further step this period", metadata: meta(client, step: step).merging([
            "exit_code": "\(result.exitCode)", "meaning": "\(meaning)",
            "stderr": "\(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines).suffix(2000))",
        ]) { $1 })
    }
}
