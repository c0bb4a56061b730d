import AutoHealCore
import DockerAPI
import Foundation
import Logging

/// `libvirt_suspend_wakeup`: wakes VMs left paused or power-suspended on compute hosts,
/// with `virsh` run by Docker exec in the `[libvirt] container` (nova_libvirt).
///
/// On every compute host (concurrently): list all domains by UUID, read each one's state
/// and reason, decide with ``LibvirtWakeDecision``, and act on exactly those domains, one
/// command per domain by UUID, then read the state again. Each domain has a
/// ``RestartBudget``: one that pauses again (storage still failing) is resumed with growing
/// delays and then quarantined with an ERROR line, never resumed in a loop. When a domain
/// changed state and `restart_nova_compute` allows it, `nova_compute` on that host is restarted.
public final class LibvirtWaker: PayloadHandler {
    private let config: AutoHealConfig
    private let docker: DockerHosts
    private let logger: Logger
    private let state: LibvirtWakerState

    public init(config: AutoHealConfig, docker: DockerHosts, logger: Logger) {
        self.config = config
        self.docker = docker
        self.logger = logger
        self.state = LibvirtWakerState(limits: RestartBudget.Limits(config.policy))
    }

    public func handle(_ request: Envelope) async -> HandlerOutcome {
        var hosts = config.hosts.compute
        if let target = request.target { hosts = hosts.filter { $0.name == target.host } }
        return await withTaskGroup(of: HandlerOutcome.self) { group in
            for host in hosts { group.addTask { await self.wake(host) } }
            return await group.reduce(HandlerOutcome(), +)
        }
    }

    private var container: String { config.libvirt.container }
    private var timeout: Duration { .seconds(config.libvirt.commandTimeoutSeconds) }

    private func wake(_ host: AutoHealConfig.Host) async -> HandlerOutcome {
        guard let client = docker.client(forHost: host.name) else { return HandlerOutcome(failed: 1) }
        let base: Logger.Metadata = ["host": "\(host.name)", "container": "\(container)"]
        guard let listing = await virsh(client, ["list", "--all", "--uuid"], base) else { return HandlerOutcome(checked: 1, failed: 1) }
        guard listing.exitCode == 0, let uuids = LibvirtDomainState.parseUUIDList(listing.stdout) else {
            logger.error("cannot list domains", metadata: base.merging([
                "exit_code": "\(listing.exitCode)", "stdout": "\(listing.stdout.prefix(300))", "stderr": "\(listing.stderr.prefix(500))",
            ]) { $1 })
            return HandlerOutcome(checked: 1, failed: 1)
        }
        var outcome = HandlerOutcome()
        var changed = 0
        var attempted = 0
        for uuid in uuids {
            var log = base
            log["domain"] = "\(uuid)"
            outcome.checked += 1
            guard let seen = await domainState(client, uuid, log) else {
                outcome.failed += 1
                continue
            }
            log["seen"] = "\(seen)"
            let target = TargetKey(host: host.name, container: "domain:\(uuid)")
            let decision = LibvirtWakeDecision.decide(seen, settings: config.libvirt)
            guard decision.action != .none else {
                if seen.state == "running" {
                    if await state.recordHealthy(target) {
                        logger.notice("domain has been running long enough: released from quarantine", metadata: log)
                    }
                } else if seen.state == "paused" || seen.state == "pmsuspended" {
                    logger.info("leaving domain alone", metadata: log.merging(["reason": "\(decision.reason)"]) { $1 })
                    outcome.skipped += 1
                }
                continue
            }
            await state.recordUnhealthy(target)
            log["action"] = "\(decision.action == .wake ? "dompmwakeup" : "resume")"
            log["reason"] = "\(decision.reason)"
            switch await state.verdict(target) {
            case .quarantined:
                if await state.markReported(target) {
                    logger.error("domain needs a person: it keeps pausing after \(config.policy.maxAttempts) wake-ups; quarantined, not resumed again until it has run for healthy_reset or is released",
                                 metadata: log)
                } else {
                    logger.warning("domain still quarantined: needs a person", metadata: log)
                }
                outcome.skipped += 1
                continue
            case .backingOff(let until):
                logger.info("backing off before waking the domain again", metadata: log.merging(["until": "\(until)"]) { $1 })
                outcome.skipped += 1
                continue
            case .allowed(let attempt):
                log["attempt"] = "\(attempt)/\(config.policy.maxAttempts)"
            }
            attempted += 1
            await state.recordAction(target)
            let command = decision.action == .wake ? "dompmwakeup" : "resume"
            guard let result = await virsh(client, [command, uuid], log) else {
                outcome.failed += 1
                continue
            }
            let after = await domainState(client, uuid, log)
            log["exit_code"] = "\(result.exitCode)"
            log["duration"] = "\(result.duration.logDescription)"
            log["state_after"] = "\(after?.description ?? "unknown")"
            if result.exitCode == 0, let after, after.state != seen.state {
                changed += 1
                outcome.acted += 1
                log["result"] = "ok"
                logger.notice("woke domain", metadata: log)
                HealMetrics.action(handler: Payload.libvirtSuspendWakeup.rawValue, kind: command, result: "done")
            } else {
                outcome.failed += 1
                log["result"] = "failed"
                log["stderr"] = "\(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines).prefix(500))"
                logger.error("domain did not wake", metadata: log)
                HealMetrics.action(handler: Payload.libvirtSuspendWakeup.rawValue, kind: command, result: "failed")
            }
        }
        let policy = config.libvirt.restartNovaCompute
        if (policy == "auto" && changed > 0) || (policy == "always" && attempted > 0) {
            await restartNovaCompute(client, base, changed: changed)
        }
        return outcome
    }

    private func restartNovaCompute(_ client: DockerClient, _ base: Logger.Metadata, changed: Int) async {
        let name = config.libvirt.novaComputeContainer
        var log = base
        log["container"] = "\(name)"
        log["action"] = "restart"
        log["reason"] = "\(changed) domain(s) changed state; nova-compute resyncs their power state"
        let clock = ContinuousClock()
        let started = clock.now
        do {
            try await client.restartContainer(name, stopTimeout: config.engine.stopTimeoutSeconds)
            log["result"] = "ok"
            log["duration"] = "\((clock.now - started).logDescription)"
            logger.notice("restarted nova_compute", metadata: log)
            HealMetrics.action(handler: Payload.libvirtSuspendWakeup.rawValue, kind: "restart_nova_compute", result: "done")
        } catch {
            log["result"] = "failed"
            log["error"] = "\(error)"
            log["duration"] = "\((clock.now - started).logDescription)"
            logger.error("restart of nova_compute failed", metadata: log)
            HealMetrics.action(handler: Payload.libvirtSuspendWakeup.rawValue, kind: "restart_nova_compute", result: "failed")
        }
    }

    private func domainState(_ client: DockerClient, _ uuid: String, _ log: Logger.Metadata) async -> LibvirtDomainState? {
        guard let result = await virsh(client, ["domstate", "--reason", uuid], log, quiet: true) else { return nil }
        guard result.exitCode == 0, let state = LibvirtDomainState(parsing: result.stdout) else {
            logger.error("cannot read domain state", metadata: log.merging([
                "exit_code": "\(result.exitCode)", "stdout": "\(result.stdout.prefix(200))", "stderr": "\(result.stderr.prefix(300))",
            ]) { $1 })
            return nil
        }
        return state
    }

    /// Runs `virsh ARGS`; nil (after an ERROR line) if it did not run to an exit code.
    private func virsh(_ client: DockerClient, _ arguments: [String], _ log: Logger.Metadata, quiet: Bool = false) async -> ExecResult? {
        var log = log
        log["command"] = "\((["virsh"] + arguments).joined(separator: " "))"
        do {
            let result = try await client.exec(container, command: ["virsh"] + arguments, timeout: timeout)
            log["exit_code"] = "\(result.exitCode)"
            log["duration"] = "\(result.duration.logDescription)"
            if quiet { logger.debug("ran virsh", metadata: log) } else { logger.info("ran virsh", metadata: log) }
            return result
        } catch {
            log["result"] = "failed"
            log["error"] = "\(error)"
            logger.error("virsh did not complete", metadata: log)
            return nil
        }
    }
}

/// The waker's memory: a restart budget per domain and which quarantines were reported.
actor LibvirtWakerState {
    private var budget: RestartBudget
    private var reported: Set<TargetKey> = []

    init(limits: RestartBudget.Limits) { budget = RestartBudget(limits: limits) }

    func verdict(_ target: TargetKey) -> RestartBudget.Verdict { budget.verdict(for: target, now: Date()) }
    func recordAction(_ target: TargetKey) { budget.recordAction(target, now: Date()) }
    func recordHealthy(_ target: TargetKey) -> Bool {
        let released = budget.recordHealthy(target, now: Date())
        if released { reported.remove(target) }
        return released
    }
    func recordUnhealthy(_ target: TargetKey) { budget.recordUnhealthy(target) }
    func markReported(_ target: TargetKey) -> Bool { reported.insert(target).inserted }
}
