import AutoHealCore
import FoundationEssentials
import Logging
import NovaAPI
import Policy

/// `compute_host_failure`: a compute host that failed — powered off, panicked, cut off — is
/// confirmed from two sides, fenced, and its servers are evacuated through the Nova API.
///
/// Each run looks at every compute host: does its Docker API answer, and does Nova report its
/// nova-compute service up? A host is **down** only when both have said no for at least
/// `[host_failure] host_down_after` seconds. One signal alone is a WARNING and a notification
/// (once per episode), never an evacuation. When more hosts look down at once than
/// `max_hosts_down` (and `max_hosts_down_percent` of the compute hosts) allow, the healer takes
/// itself for the one cut off: it notifies and evacuates nothing.
///
/// A down host is handled in this order, every step an action under the ``PolicyExecutor``
/// (pause, dry run, budgets, journal, notifications): the fence command (`fence = none` skips
/// it, as an explicit choice; no fence configured means no evacuation), `forced_down` on its
/// nova-compute service, then the evacuation of each server (those whose metadata opts out are
/// left), at most `max_parallel_evacuations` at a time, each followed until it is ACTIVE on
/// another host, in ERROR, or past `evacuation_timeout`. Hosts are handled `hosts_at_once` at
/// a time. When the host answers again a person is told, and `forced_down` is left to them
/// unless `unset_forced_down = true`.
public final class ComputeHostHealer: PayloadHandler {
    private let config: AutoHealConfig
    private let observer: Observer
    private let executor: PolicyExecutor
    private let logger: Logger
    private let watches = HostWatches()

    public init(config: AutoHealConfig, observer: Observer, executor: PolicyExecutor, logger: Logger) {
        self.config = config
        self.observer = observer
        self.executor = executor
        self.logger = logger
    }

    private var settings: AutoHealConfig.HostFailure { config.hostFailure }

    public func handle(_ request: Envelope) async -> HandlerOutcome {
        let hosts = config.hosts.compute.map(\.name)
        guard !hosts.isEmpty else { return HandlerOutcome() }
        // Observe: Docker from here, nova-compute from Nova.
        let services: [NovaService]
        do {
            services = try await observer.computeServices()
        } catch {
            logger.error("cannot ask Nova for its compute services: no host is confirmed down this run", metadata: ["error": "\(error)"])
            return HandlerOutcome(checked: hosts.count, failed: 1)
        }
        let docker = await withTaskGroup(of: (String, Bool).self) { group in
            for host in hosts { group.addTask { (host, await self.observer.dockerAnswers(host)) } }
            return await group.reduce(into: [String: Bool]()) { $0[$1.0] = $1.1 }
        }
        let now = Date()
        var observations: [String: HostObservation] = [:]
        for host in hosts {
            let service = services.first { $0.host == host }
            observations[host] = HostObservation(dockerAnswers: docker[host] ?? false, service: service)
            if service == nil, await watches.firstTimeUnknown(host) {
                logger.warning(
                    "Nova knows no nova-compute service on this host: it can never be confirmed down (write it as Nova names it: NAME=ADDRESS in [hosts] compute_hosts)",
                    metadata: ["host": "\(host)"])
            }
        }
        let assessment = await watches.assess(observations, now: now, downAfter: TimeInterval(settings.hostDownAfterSeconds))
        var outcome = HandlerOutcome(checked: hosts.count)

        for (host, signal) in assessment.oneSignal {
            let (what, since) = signal
            var logger = logger
            logger[metadataKey: "host"] = "\(host)"
            logger[metadataKey: "seen"] = "\(what.rawValue)"
            logger[metadataKey: "since"] = "\(Envelope.formatDate(since))"
            logger.warning("one side only says this compute host is down: not evacuating")
            if await watches.firstWarning(host) {
                executor.notify(
                    "Cloud Auto Heal: \(what.sentence) on compute host \(host) since \(Envelope.formatDate(since)), but the other side does not confirm it; nothing is evacuated. Please look at the host."
                )
                await executor.record(
                    .leftAlone, host: host, target: "host", seen: what.rawValue, reason: "only one signal says the host is down",
                    logger: logger)
            }
        }
        for host in assessment.back {
            await hostIsBack(host, service: observations[host]?.service)
        }

        let limit = settings.limit(hosts: hosts.count)
        guard assessment.lookingDown.count <= limit else {
            logger.error(
                "more compute hosts look down at once than max_hosts_down allows: this healer may be the one cut off; evacuating nothing",
                metadata: ["looking_down": "\(assessment.lookingDown.sorted().joined(separator: ","))", "limit": "\(limit)"])
            if await watches.firstPartitionNotice() {
                executor.notify(
                    "Cloud Auto Heal sees \(assessment.lookingDown.count) of \(hosts.count) compute hosts down at once (\(assessment.lookingDown.sorted().joined(separator: ", "))), more than its limit of \(limit): it may be cut off itself, and evacuates nothing until fewer look down."
                )
                await executor.record(
                    .leftAlone, host: "*", target: "host", seen: "\(assessment.lookingDown.count) hosts look down",
                    reason: "over max_hosts_down (\(limit)): partition suspected", logger: logger)
            }
            return outcome
        }
        await watches.endPartition()

        // Down hosts, `hosts_at_once` at a time.
        let observed = observations
        var pending = assessment.down.sorted()
        while !pending.isEmpty {
            let batch = Array(pending.prefix(settings.hostsAtOnce))
            pending.removeFirst(batch.count)
            outcome =
                outcome
                + (await withTaskGroup(of: HandlerOutcome.self) { group in
                    for host in batch {
                        group.addTask {
                            await self.recover(host, service: observed[host]?.service, since: assessment.downSince[host] ?? now)
                        }
                    }
                    return await group.reduce(HandlerOutcome(), +)
                })
        }
        return outcome
    }

    // MARK: - A down host

    /// Fences the host, forces its service down and evacuates its servers, each through the policy.
    private func recover(_ host: String, service: NovaService?, since: Date) async -> HandlerOutcome {
        var logger = logger
        logger[metadataKey: "host"] = "\(host)"
        guard let service else { return HandlerOutcome() }
        logger.error(
            "compute host down: its Docker API does not answer and Nova reports nova-compute down",
            metadata: ["since": "\(Envelope.formatDate(since))"])
        let seen = "down since \(Envelope.formatDate(since))"

        // 1. Fence.
        switch settings.fence {
        case nil:
            logger.error(
                "no fence configured ([host_failure] fence): not evacuating; set a fence command, or fence = none to evacuate without one")
            if await watches.firstNotice(host, "nofence") {
                executor.notify(
                    "Cloud Auto Heal: compute host \(host) is down (\(seen)) but no fence is configured, so its servers are not evacuated. It needs a person."
                )
                await executor.record(
                    .leftAlone, host: host, target: "host", seen: seen, reason: "no [host_failure] fence configured", logger: logger)
            }
            return HandlerOutcome(skipped: 1)
        case .none?:
            if await watches.firstNotice(host, "fencenone") {
                logger.notice("fence = none: evacuating without fencing, as configured")
            }
        case .command?:
            guard !(await watches.isFenced(host)) else { break }
            let fence = action(.fence, host: host, target: "fence", seen: seen, reason: "confirmed down from Docker and Nova")
            switch await executor.perform(fence, logger: logger) {
            case .done:
                await watches.markFenced(host)
            case .failed(let why, _):
                logger.error("fence failed: not evacuating (its servers might still run there)", metadata: ["error": "\(why)"])
                if await watches.firstNotice(host, "fencefailed") {
                    executor.notify(
                        "Cloud Auto Heal could not fence compute host \(host) (\(why)), so its servers are not evacuated. It needs a person."
                    )
                }
                return HandlerOutcome(failed: 1)
            case .refused(let refusal):
                return HandlerOutcome(for: refusal)
            }
        }

        // 2. Force the nova-compute service down, so Nova lets the servers be rebuilt elsewhere.
        if !service.forcedDown {
            let forceDown = action(
                .forceDown(serviceID: service.id), host: host, target: "force_down", seen: seen,
                reason: "fenced; Nova must not wait for the service to come back")
            switch await executor.perform(forceDown, logger: logger) {
            case .done: break
            case .failed(let why, _):
                logger.error("cannot force the service down: not evacuating", metadata: ["error": "\(why)"])
                if await watches.firstNotice(host, "forcedown") {
                    executor.notify(
                        "Cloud Auto Heal could not force nova-compute on \(host) down (\(why)); its servers are not evacuated. It needs a person."
                    )
                }
                return HandlerOutcome(failed: 1)
            case .refused(let refusal):
                return HandlerOutcome(for: refusal)
            }
        }

        // 3. Evacuate.
        let servers: [NovaServer]
        do {
            servers = try await observer.servers(onHost: host)
        } catch {
            logger.error("cannot list the servers of the host", metadata: ["error": "\(error)"])
            return HandlerOutcome(failed: 1)
        }
        let (key, value) = settings.optOut
        var report = EvacuationReport()
        for server in servers where server.metadata[key] == value {
            report.skipped.append(server.id)
            logger.notice(
                "server opted out of evacuation: left on the failed host",
                metadata: ["server": "\(server.id)", "metadata": "\(key)=\(value)"])
            await executor.record(
                .leftAlone, host: host, target: "server:\(server.id)", seen: server.status,
                reason: "metadata \(key)=\(value)", logger: logger)
        }
        let candidates = servers.filter { $0.metadata[key] != value }
        let hostLogger = logger
        let results = await withTaskGroup(of: (String, EvacuationResult).self) { group in
            var next = 0
            var results: [(String, EvacuationResult)] = []
            func start() {
                let server = candidates[next]
                next += 1
                group.addTask { (server.id, await self.evacuate(server, from: host, seen: seen, logger: hostLogger)) }
            }
            while next < min(settings.maxParallelEvacuations, candidates.count) { start() }
            while let done = await group.next() {
                results.append(done)
                if next < candidates.count { start() }
            }
            return results
        }
        for (id, result) in results {
            switch result {
            case .active(let newHost): report.evacuated.append("\(id) → \(newHost)")
            case .failed(let why): report.failed.append("\(id): \(why)")
            case .refused: report.refused += 1
            }
        }
        if report.refused > 0 && report.evacuated.isEmpty && report.failed.isEmpty {
            return HandlerOutcome(skipped: 1)
        }
        await watches.markHandled(host)
        let summary = report.summary
        logger.notice(
            "evacuation of the compute host finished",
            metadata: [
                "evacuated": "\(report.evacuated.count)", "failed": "\(report.failed.count)", "skipped": "\(report.skipped.count)",
            ])
        await executor.record(
            .changed, host: host, target: "host", seen: seen, reason: summary, action: "evacuate",
            result: report.failed.isEmpty ? "ok" : "failed", logger: logger)
        executor.notify(
            "Cloud Auto Heal evacuated compute host \(host) (\(seen)): \(summary). Its nova-compute service stays forced down until a person clears it."
        )
        return HandlerOutcome(acted: report.evacuated.count, failed: report.failed.count, skipped: report.skipped.count)
    }

    private enum EvacuationResult {
        case active(String)
        case failed(String)
        case refused
    }

    /// Evacuates one server and follows it until it is ACTIVE elsewhere, in ERROR, or late.
    private func evacuate(_ server: NovaServer, from host: String, seen: String, logger: Logger) async -> EvacuationResult {
        var logger = logger
        logger[metadataKey: "server"] = "\(server.id)"
        let evacuate = action(
            .evacuate(server: server.id), host: host, target: "server:\(server.id)", seen: "\(server.status) on \(host)",
            reason: "its host is down (\(seen))", serviceLimit: settings.maxParallelEvacuations)
        switch await executor.perform(evacuate, logger: logger) {
        case .done: break
        case .failed(let why, _): return .failed(why)
        case .refused: return .refused
        }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(settings.evacuationTimeoutSeconds)
        var last = server
        while clock.now < deadline {
            try? await Task.sleep(for: .seconds(2))
            guard let now = try? await observer.server(server.id) else { continue }
            last = now
            if now.status == "ACTIVE", let newHost = now.host, newHost != host, now.taskState == nil {
                logger.notice("server evacuated: ACTIVE on another host", metadata: ["new_host": "\(newHost)"])
                await executor.record(
                    .changed, host: host, target: "server:\(server.id)", seen: server.status,
                    reason: "ACTIVE on \(newHost)", action: "evacuate", result: "ok", logger: logger)
                return .active(newHost)
            }
            if now.status == "ERROR" { break }
        }
        let why =
            last.status == "ERROR"
            ? "ERROR after evacuation"
            : "not ACTIVE elsewhere within evacuation_timeout (\(settings.evacuationTimeoutSeconds)s): \(last.status) on \(last.host ?? "?")"
        logger.error("server evacuation failed", metadata: ["error": "\(why)"])
        await executor.record(
            .changed, host: host, target: "server:\(server.id)", seen: server.status, reason: why,
            action: "evacuate", result: "failed", logger: logger)
        return .failed(why)
    }

    /// A host that was down and handled answers again: a person is told; forced_down is
    /// cleared only with `unset_forced_down = true`.
    private func hostIsBack(_ host: String, service: NovaService?) async {
        var logger = logger
        logger[metadataKey: "host"] = "\(host)"
        logger.notice("a compute host that was down answers again")
        if settings.unsetForcedDown, let service, service.forcedDown {
            let clear = action(
                .unsetForcedDown(serviceID: service.id), host: host, target: "unset_forced_down", seen: "answers again",
                reason: "[host_failure] unset_forced_down = true")
            if case .done = await executor.perform(clear, logger: logger) {
                executor.notify("Cloud Auto Heal: compute host \(host) answers again; its nova-compute service is no longer forced down.")
                return
            }
        }
        executor.notify(
            "Cloud Auto Heal: compute host \(host) answers again. Its nova-compute service stays forced down: check the host, then clear it (openstack compute service set --up \(host) nova-compute)."
        )
    }

    private func action(
        _ kind: HealAction.Kind, host: String, target: String, seen: String, reason: String, serviceLimit: Int? = nil
    ) -> HealAction {
        HealAction(
            handler: .computeHostFailure, kind: kind, host: host, container: "host", target: TargetKey(host: host, container: target),
            seen: seen, reason: reason, service: serviceLimit == nil ? "compute-host" : "evacuation",
            serviceLimit: serviceLimit ?? settings.hostsAtOnce, recheck: nil,
            doneMessage: kind == .fence ? "fenced the compute host" : "\(kind) done")
    }
}

/// What one run saw of a compute host.
struct HostObservation: Sendable {
    var dockerAnswers: Bool
    /// Its nova-compute service, if Nova knows one of that name.
    var service: NovaService?

    var novaSaysDown: Bool { service.map { !$0.isUp || $0.forcedDown } ?? false }
    /// Either side says it is down.
    var looksDown: Bool { !dockerAnswers || novaSaysDown }
}

/// The side that alone says a host is down.
enum HostSignal: String, Sendable {
    case dockerOnly = "docker unreachable, nova-compute up"
    case novaOnly = "nova-compute down, docker answers"

    var sentence: String {
        switch self {
        case .dockerOnly: "the Docker API does not answer"
        case .novaOnly: "Nova reports nova-compute down"
        }
    }
}

/// The servers of one evacuation, for the report.
struct EvacuationReport {
    var evacuated: [String] = []
    var failed: [String] = []
    var skipped: [String] = []
    var refused = 0

    var summary: String {
        var parts = ["\(evacuated.count) server(s) ACTIVE on other hosts"]
        if !failed.isEmpty { parts.append("\(failed.count) failed (\(failed.joined(separator: "; ")))") }
        if !skipped.isEmpty { parts.append("\(skipped.count) opted out (\(skipped.joined(separator: ", ")))") }
        return parts.joined(separator: ", ")
    }
}

/// What the handler remembers about each compute host between runs: since when each side has
/// said it is down, and which notices of this episode were already given. An episode ends when
/// both sides say the host is up again.
actor HostWatches {
    struct Watch {
        var dockerDownSince: Date?
        var novaDownSince: Date?
        var notices: Set<String> = []
        var fenced = false
        var handled = false
    }

    struct Assessment {
        /// Confirmed down by both sides for long enough.
        var down: [String] = []
        var downSince: [String: Date] = [:]
        /// Down by one side only, for long enough: which, since when.
        var oneSignal: [String: (HostSignal, Date)] = [:]
        /// Either side says down (for the partition guard).
        var lookingDown: Set<String> = []
        /// Handled hosts whose Docker API answers again.
        var back: [String] = []
    }

    private var watches: [String: Watch] = [:]
    private var unknown: Set<String> = []
    private var partitionNoticed = false

    func assess(_ observations: [String: HostObservation], now: Date, downAfter: TimeInterval) -> Assessment {
        var result = Assessment()
        for (host, seen) in observations {
            var w = watches[host, default: Watch()]
            w.dockerDownSince = seen.dockerAnswers ? nil : (w.dockerDownSince ?? now)
            w.novaDownSince = seen.novaSaysDown ? (w.novaDownSince ?? now) : nil
            if seen.looksDown && !w.handled { result.lookingDown.insert(host) }
            let dockerLong = w.dockerDownSince.map { now.timeIntervalSince($0) >= downAfter } ?? false
            let novaLong = w.novaDownSince.map { now.timeIntervalSince($0) >= downAfter } ?? false
            if w.handled {
                if seen.dockerAnswers, !w.notices.contains("back") {
                    w.notices.insert("back")
                    result.back.append(host)
                }
                if seen.dockerAnswers && !seen.novaSaysDown { w = Watch() }  // the episode is over
            } else if dockerLong && novaLong {
                result.down.append(host)
                result.downSince[host] = max(w.dockerDownSince!, w.novaDownSince!)
            } else if dockerLong {
                result.oneSignal[host] = (.dockerOnly, w.dockerDownSince!)
            } else if novaLong {
                result.oneSignal[host] = (.novaOnly, w.novaDownSince!)
            }
            if !seen.looksDown && !w.handled { w.notices = [] }
            watches[host] = w
        }
        return result
    }

    func firstTimeUnknown(_ host: String) -> Bool { unknown.insert(host).inserted }
    func firstWarning(_ host: String) -> Bool { firstNotice(host, "one-signal") }
    func firstNotice(_ host: String, _ what: String) -> Bool { watches[host, default: Watch()].notices.insert(what).inserted }
    func firstPartitionNotice() -> Bool {
        defer { partitionNoticed = true }
        return !partitionNoticed
    }
    func endPartition() { partitionNoticed = false }
    func isFenced(_ host: String) -> Bool { watches[host]?.fenced ?? false }
    func markFenced(_ host: String) { watches[host, default: Watch()].fenced = true }
    func markHandled(_ host: String) { watches[host, default: Watch()].handled = true }
}

extension HandlerOutcome {
    /// A host whose recovery the policy refused this run.
    init(for refusal: ActionOutcome.Refusal) {
        self.init(checked: 0, for: .refused(refusal))
    }
}
