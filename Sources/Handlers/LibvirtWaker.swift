import AutoHealCore
import DockerAPI
import FoundationEssentials
import Logging
import Policy

/// `libvirt_suspend_wakeup`: wakes VMs left paused or power-suspended on compute hosts, with
/// `virsh` run by Docker exec in the `[libvirt] container` (nova_libvirt).
///
/// On every compute host (concurrently), or for the one domain a targeted request names
/// (`host/domain:UUID`): list the domains by UUID, read each one's state and reason, decide
/// with ``LibvirtWakeDecision``, and hand each `virsh resume` / `virsh dompmwakeup` to the
/// ``PolicyExecutor`` — so a domain that pauses again (storage still failing) is backed off
/// and then quarantined, never resumed in a loop — then read its state again. When a domain
/// changed state and `restart_nova_compute` allows it, `nova_compute` on that host is
/// restarted so Nova resyncs power states; that restart goes through the same policy, under
/// the `nova_compute` container's own budget and rolling slot.
public final class LibvirtWaker: PayloadHandler {
    private let config: AutoHealConfig
    private let observer: Observer
    private let executor: PolicyExecutor
    private let logger: Logger
    private let claims = TargetClaims()

    public init(config: AutoHealConfig, observer: Observer, executor: PolicyExecutor, logger: Logger) {
        self.config = config
        self.observer = observer
        self.executor = executor
        self.logger = logger
    }

    public func handle(_ request: Envelope) async -> HandlerOutcome {
        var hosts = config.hosts.compute.map(\.name)
        if let target = request.target { hosts = hosts.filter { $0 == target.host } }
        let only = request.target?.domainUUID.flatMap { $0 == "*" ? nil : $0 }
        return await withTaskGroup(of: HandlerOutcome.self) { group in
            for host in hosts { group.addTask { await self.wake(host, only: only) } }
            return await group.reduce(HandlerOutcome(), +)
        }
    }

    private var container: String { config.libvirt.container }

    private func wake(_ host: String, only: String?) async -> HandlerOutcome {
        var logger = logger
        logger[metadataKey: "host"] = "\(host)"
        logger[metadataKey: "container"] = "\(container)"
        let uuids: [String]
        if let only {
            uuids = [only]
        } else {
            guard let listing = await probe(.listDomains, on: host, logger: logger) else { return HandlerOutcome(checked: 1, failed: 1) }
            guard listing.exitCode == 0, let listed = LibvirtDomainState.parseUUIDList(listing.stdout) else {
                logger.error(
                    "cannot list domains",
                    metadata: [
                        "exit_code": "\(listing.exitCode)", "stdout": "\(listing.stdout.prefix(300))",
                        "stderr": "\(listing.stderr.prefix(500))",
                    ])
                return HandlerOutcome(checked: 1, failed: 1)
            }
            uuids = listed
        }
        var outcome = HandlerOutcome()
        var changed = 0
        var attempted = 0
        for uuid in uuids {
            let target = TargetKey.domain(uuid, on: host)
            var logger = logger
            logger[metadataKey: "domain"] = "\(uuid)"
            if only != nil {
                guard await claims.claimWhenFree(target) else {
                    outcome = outcome + HandlerOutcome(checked: 1, skipped: 1)
                    continue
                }
            } else if !claims.claim(target) {
                logger.debug("already being handled by another request")
                outcome = outcome + HandlerOutcome(checked: 1, skipped: 1)
                continue
            }
            let result = await wake(target, uuid: uuid, logger: logger)
            claims.release(target)
            outcome = outcome + result.outcome
            if result.attempted { attempted += 1 }
            if result.changed { changed += 1 }
        }
        let policy = config.libvirt.restartNovaCompute
        if (policy == "auto" && changed > 0) || (policy == "always" && attempted > 0) {
            outcome = outcome + (await restartNovaCompute(on: host, changed: changed, attempted: attempted))
        }
        return outcome
    }

    /// Looks at one domain and wakes it through the policy if it needs it.
    private func wake(_ target: TargetKey, uuid: String, logger: Logger) async -> (outcome: HandlerOutcome, attempted: Bool, changed: Bool)
    {
        var logger = logger
        let host = target.host
        guard let seen = await domainState(uuid, on: host, logger: logger) else {
            return (HandlerOutcome(checked: 1, failed: 1), false, false)
        }
        logger[metadataKey: "seen"] = "\(seen)"
        guard let action = action(for: seen, target: target, uuid: uuid) else {
            let decision = LibvirtWakeDecision.decide(seen, settings: config.libvirt)
            if seen.state == "running" {
                await executor.observe(target, healthy: true, seen: "\(seen)", logger: logger)
            } else if seen.state == "paused" || seen.state == "pmsuspended" {
                logger.info("leaving domain alone", metadata: ["reason": "\(decision.reason)"])
                await executor.record(
                    .leftAlone, host: host, target: target.container, seen: "\(seen)", reason: decision.reason,
                    logger: logger)
                return (HandlerOutcome(checked: 1, skipped: 1), false, false)
            }
            return (HandlerOutcome(checked: 1), false, false)
        }
        await executor.observe(target, healthy: false, seen: "\(seen)", logger: logger)
        let result = await executor.perform(
            action, logger: logger,
            revalidate: { [self, logger] in
                // The domain may have changed while this host waited for its turn.
                guard let fresh = await domainState(uuid, on: host, logger: logger) else { return action }
                return self.action(for: fresh, target: target, uuid: uuid)
            })
        guard case .done = result else {
            if case .failed = result { return (HandlerOutcome(checked: 1, failed: 1), true, false) }
            return (HandlerOutcome(checked: 1, for: result), false, false)
        }
        let after = await domainState(uuid, on: host, logger: logger)
        logger[metadataKey: "state_after"] = "\(after?.description ?? "unknown")"
        if let after, after.state != seen.state {
            logger.info("domain state after waking")
            await executor.record(
                .changed, host: host, target: target.container, seen: "\(seen)",
                reason: "state after \(action.kind): \(after)", action: "\(action.kind)", result: "ok", logger: logger)
            return (HandlerOutcome(checked: 1, acted: 1), true, true)
        }
        logger.error("domain did not wake")
        await executor.record(
            .changed, host: host, target: target.container, seen: "\(seen)",
            reason: "still \(after?.description ?? "unknown") after \(action.kind)", action: "\(action.kind)",
            result: "failed", logger: logger)
        return (HandlerOutcome(checked: 1, failed: 1), true, false)
    }

    /// The resume or wake-up a domain in this state needs; nil when it needs none.
    private func action(for seen: LibvirtDomainState, target: TargetKey, uuid: String) -> HealAction? {
        let decision = LibvirtWakeDecision.decide(seen, settings: config.libvirt)
        let kind: HealAction.Kind
        switch decision.action {
        case .none: return nil
        case .resume: kind = .resumeDomain(uuid: uuid)
        case .wake: kind = .wakeDomain(uuid: uuid)
        }
        return HealAction(
            handler: .libvirtSuspendWakeup, kind: kind, host: target.host, container: container, target: target, seen: "\(seen)",
            reason: decision.reason, recheck: Envelope(payload: .libvirtSuspendWakeup, scope: .compute, target: target),
            doneMessage: "woke domain")
    }

    /// Restarts `nova_compute` through the policy, under that container's own budget and slot.
    private func restartNovaCompute(on host: String, changed: Int, attempted: Int) async -> HandlerOutcome {
        let name = config.libvirt.novaComputeContainer
        let target = TargetKey(host: host, container: name)
        let action = HealAction(
            handler: .libvirtSuspendWakeup, kind: .restart, host: host, container: name, target: target,
            seen: "\(changed) of \(attempted) domain(s) woken", reason: "nova-compute resyncs the domains' power state",
            service: name, recheck: nil, doneMessage: "restarted nova_compute")
        let result = await executor.perform(
            action, logger: logger,
            settled: { [observer] in
                (try? await observer.inspect(name, on: host).observation.isHealthy) ?? false
            })
        return HandlerOutcome(checked: 0, for: result)
    }

    private func domainState(_ uuid: String, on host: String, logger: Logger) async -> LibvirtDomainState? {
        guard let result = await probe(.domainState(uuid: uuid), on: host, logger: logger, quiet: true) else { return nil }
        guard result.exitCode == 0, let state = LibvirtDomainState(parsing: result.stdout) else {
            logger.error(
                "cannot read domain state",
                metadata: [
                    "exit_code": "\(result.exitCode)", "stdout": "\(result.stdout.prefix(200))", "stderr": "\(result.stderr.prefix(300))",
                ])
            return nil
        }
        return state
    }

    /// Runs a read-only virsh command; nil (after an ERROR line) if it did not run to an exit code.
    private func probe(_ probe: Observer.Probe, on host: String, logger: Logger, quiet: Bool = false) async -> ExecResult? {
        var logger = logger
        logger[metadataKey: "command"] = "\(observer.command(for: probe))"
        do {
            let result = try await observer.run(probe, on: host)
            let metadata: Logger.Metadata = ["exit_code": "\(result.exitCode)", "duration": "\(result.duration.logDescription)"]
            if quiet { logger.debug("ran virsh", metadata: metadata) } else { logger.info("ran virsh", metadata: metadata) }
            return result
        } catch {
            logger.error("virsh did not complete", metadata: ["result": "failed", "error": "\(error)"])
            return nil
        }
    }
}
