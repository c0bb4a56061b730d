import AutoHealCore
import DockerAPI
import FoundationEssentials
import Locking
import Logging
import Messaging
import ServiceLifecycle

/// Follows the libvirt lifecycle events of every compute host and publishes a targeted
/// `libvirt_suspend_wakeup` request for exactly the domain (by UUID) that was just suspended,
/// so a domain paused by an I/O error is looked at within a second instead of at the next
/// sweep (300 s by default, which stays as the safety net).
///
/// In the monitor, beside the Docker event watcher, because the monitor is the part that
/// watches and asks; the engine decides and acts, under the policy, as for every request: it
/// reads the domain's state and reason and resumes only what `[libvirt] resume_reasons`
/// allows (a domain a person paused is left alone; one that keeps pausing is backed off and
/// quarantined). The events come from `virsh event --all --loop --timestamp` run in the
/// host's `nova_libvirt` container through a Docker exec stream — virsh names the domain; its
/// UUID comes from a name table read once per stream (`virsh list --all --uuid --name`), or
/// from `virsh domuuid` (a read) for a domain defined since. A stream that breaks or ends is reopened with
/// capped, jittered back-off, then every domain of that host is checked (`domain:*`): a
/// suspension during the gap is caught then.
public final class LibvirtEventWatcher: Service, Sendable {
    /// One compute host to follow: its Docker client and its libvirt container.
    public struct Watch: Sendable {
        public var client: DockerClient
        public var container: String

        public init(client: DockerClient, container: String) {
            self.client = client
            self.container = container
        }
    }

    /// What the watcher runs in the libvirt container.
    public static let command = ["virsh", "event", "--all", "--loop", "--timestamp"]

    private let watches: [Watch]
    private let publisher: HealRequestPublisher
    private let commandTimeout: Duration
    private let requestLifetime: Duration
    private let logger: Logger

    public init(
        watches: [Watch], publisher: HealRequestPublisher, commandTimeout: Duration, requestLifetime: Duration = .seconds(60),
        logger: Logger
    ) {
        self.watches = watches
        self.publisher = publisher
        self.commandTimeout = commandTimeout
        self.requestLifetime = requestLifetime
        self.logger = logger
    }

    /// Every compute host of the config, with `[libvirt] container`.
    public static func watches(for config: AutoHealConfig, docker: DockerHosts) -> [Watch] {
        config.hosts.compute.compactMap { host in
            docker.client(forHost: host.name).map { Watch(client: $0, container: config.libvirt.container) }
        }
    }

    public func run() async throws {
        // No compute host: nothing to follow, but a service of the group runs until shutdown.
        guard !watches.isEmpty else { return try await gracefulShutdown() }
        logger.info("watching libvirt events", metadata: ["hosts": "\(watches.count)"])
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                for watch in self.watches { group.addTask { await self.follow(watch) } }
            }
        }
        logger.notice("libvirt event watching stopped")
    }

    /// Keeps one host's event stream open until cancelled.
    private func follow(_ watch: Watch) async {
        var logger = self.logger
        logger[metadataKey: "host"] = "\(watch.client.host)"
        logger[metadataKey: "container"] = "\(watch.container)"
        var backoff = ReconnectBackoff(initial: .milliseconds(500), maximum: .seconds(30))
        var broken = false
        await withDiscardingTaskGroup { publishes in
            while !Task.isCancelled {
                let opened = ContinuousClock.now
                var reason = "virsh event ended"
                do {
                    if broken { _ = try await watch.client.version() }
                    let lines = try await watch.client.execLines(watch.container, command: Self.command)
                    logger.info("following libvirt events")
                    // Names → UUIDs for this stream, read once now (events name domains; a
                    // `virsh domuuid` per event was a Docker exec on the way to every wake-up).
                    let names = Locked<[String: String]>([:])
                    publishes.addTask { [logger] in await self.learnNames(into: names, on: watch, logger: logger) }
                    if broken {
                        broken = false
                        let check = wakeUp(.allDomains(on: watch.client.host))
                        logger.notice("libvirt event stream reopened after a break: checking every domain of the host")
                        publishes.addTask { [logger] in await self.publish(check, event: nil, logger: logger) }
                    }
                    for try await line in lines {
                        switch line {
                        case .stdout(let text):
                            guard let event = LibvirtEvent(line: text) else { continue }
                            if event.forgetsName { names.withLock { $0[event.domain] = nil } }
                            guard event.suspends else { continue }
                            publishes.addTask { [logger] in await self.request(for: event, on: watch, names: names, logger: logger) }
                        case .stderr(let text):
                            guard !text.isEmpty else { continue }
                            logger.warning("virsh event wrote to stderr", metadata: ["stderr": "\(text)"])
                        }
                    }
                } catch {
                    reason = "\(error)"
                }
                if Task.isCancelled { break }
                if ContinuousClock.now - opened > .seconds(30) { backoff.reset() }
                broken = true
                let delay = backoff.next()
                logger.warning(
                    "libvirt event stream ended; reopening (the periodic sweep covers the gap)",
                    metadata: ["reason": "\(reason)", "retry_in": "\(delay.logDescription)"])
                try? await Task.sleep(for: delay)
            }
            publishes.cancelAll()
        }
    }

    /// Every domain's name and UUID on the host; a failure only means `virsh domuuid` per event.
    private func learnNames(into names: Locked<[String: String]>, on watch: Watch, logger: Logger) async {
        do {
            let result = try await watch.client.exec(
                watch.container, command: ["virsh", "list", "--all", "--uuid", "--name"], timeout: commandTimeout)
            guard result.exitCode == 0 else {
                logger.info("cannot list domain names; looking each up", metadata: ["stderr": "\(result.stderr.prefix(300))"])
                return
            }
            let listed = LibvirtEvent.parseNamesAndUUIDs(result.stdout)
            // A name an event taught meanwhile is newer than the listing.
            names.withLock { $0.merge(listed) { current, _ in current } }
        } catch {
            logger.info("cannot list domain names; looking each up", metadata: ["error": "\(error)"])
        }
    }

    /// Finds the suspended domain's UUID and asks for a wake-up of exactly that domain.
    private func request(for event: LibvirtEvent, on watch: Watch, names: Locked<[String: String]>, logger: Logger) async {
        var logger = logger
        logger[metadataKey: "domain_name"] = "\(event.domain)"
        logger[metadataKey: "event"] = "\(event.detail)"
        if let known = names.withLock({ $0[event.domain] }) {
            return await publish(wakeUp(.domain(known, on: watch.client.host)), event: event, logger: logger)
        }
        let uuid: String
        do {
            let result = try await watch.client.exec(watch.container, command: ["virsh", "domuuid", event.domain], timeout: commandTimeout)
            let text = result.stdout.trimmingWhitespace().lowercased()
            guard result.exitCode == 0, TargetKey.isUUID(text) else {
                logger.warning(
                    "cannot find the UUID of a suspended domain; the periodic sweep covers it",
                    metadata: ["exit_code": "\(result.exitCode)", "stdout": "\(result.stdout)", "stderr": "\(result.stderr)"])
                return
            }
            uuid = text
            names.withLock { $0[event.domain] = text }
        } catch {
            logger.warning("cannot find the UUID of a suspended domain; the periodic sweep covers it", metadata: ["error": "\(error)"])
            return
        }
        await publish(wakeUp(.domain(uuid, on: watch.client.host)), event: event, logger: logger)
    }

    /// A targeted `libvirt_suspend_wakeup` that expires after `requestLifetime`.
    private func wakeUp(_ target: TargetKey) -> Envelope {
        let now = Date()
        return Envelope(
            payload: .libvirtSuspendWakeup, scope: .compute, issuedAt: now, expiresAt: now.addingTimeInterval(requestLifetime.timeInterval),
            target: target)
    }

    private func publish(_ envelope: Envelope, event: LibvirtEvent?, logger: Logger) async {
        var log: Logger.Metadata = ["request": "\(envelope.id)", "target": "\(envelope.target?.container ?? "")"]
        do {
            try await publisher.publish(envelope, timeout: requestLifetime)
            if event != nil {
                logger.notice("domain suspended in libvirt events: targeted wake-up requested", metadata: log)
            } else {
                logger.info("catch-up check of the host's domains requested", metadata: log)
            }
        } catch {
            log["error"] = "\(error)"
            logger.error("targeted request could not be published; the periodic sweep covers it", metadata: log)
        }
    }
}
