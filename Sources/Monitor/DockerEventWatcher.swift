import AutoHealCore
import DockerAPI
import FoundationEssentials
import Logging
import Messaging
import ServiceLifecycle
import Synchronization

/// Follows the Docker events of every configured host and publishes a targeted
/// `container_auto_heal` request (host + container) the moment a watched container turns
/// unhealthy, dies, is OOM-killed or paused; the engine then handles exactly that target.
///
/// One stream per host (`GET /events`, filtered to the watched names and to the actions of
/// ``ContainerFault/eventActions``). A stream that breaks or is closed is reopened with capped, jittered
/// back-off, from the time of the last event it delivered (or of its first opening), so
/// Docker replays what it still remembers of the gap — only its last 256 events, which a busy
/// host's health checks fill in seconds. So once the host answers again, the watcher also
/// asks for a targeted check of every watched container there: a fault during the gap is
/// healed then, not at the next periodic sweep. Stops on graceful shutdown.
public final class DockerEventWatcher: Service, Sendable {
    /// One host to follow: its Docker client and the scope of each watched container name.
    public struct Watch: Sendable {
        public var client: DockerClient
        public var scopes: [String: [Scope]]

        public init(client: DockerClient, scopes: [String: [Scope]]) {
            self.client = client
            self.scopes = scopes
        }
    }

    private let watches: [Watch]
    private let publisher: HealRequestPublisher
    private let requestLifetime: Duration
    private let health: ServiceHealth?
    private let openStreams = Atomic<Int>(0)
    private let logger: Logger

    /// - Parameters:
    ///   - requestLifetime: a request not handled within this is dropped by the engine (the
    ///     sweep covers it by then).
    public init(
        watches: [Watch], publisher: HealRequestPublisher, requestLifetime: Duration = .seconds(60),
        health: ServiceHealth? = nil, logger: Logger
    ) {
        self.watches = watches
        self.publisher = publisher
        self.requestLifetime = requestLifetime
        self.health = health
        self.logger = logger
    }

    /// The watches for a config: every control and compute host with its scope's containers.
    public static func watches(for config: AutoHealConfig, docker: DockerHosts) -> [Watch] {
        var byHost: [String: Watch] = [:]
        var order: [String] = []
        for scope in Scope.allCases {
            let names = config.containers[scope, default: []]
            guard !names.isEmpty else { continue }
            for host in config.hosts.hosts(for: scope) {
                guard let client = docker.client(forHost: host.name) else { continue }
                if byHost[host.name] == nil {
                    byHost[host.name] = Watch(client: client, scopes: [:])
                    order.append(host.name)
                }
                for name in names { byHost[host.name]!.scopes[name, default: []].append(scope) }
            }
        }
        return order.map { byHost[$0]! }
    }

    /// Event streams open right now.
    public var streamsOpen: Int { openStreams.load(ordering: .relaxed) }

    public func run() async throws {
        let publisher = self.publisher
        health?.loopStarted("events", brokerConnected: { publisher.isConnected })
        defer { health?.loopEnded("events") }
        logger.info("watching Docker events", metadata: ["hosts": "\(watches.count)"])
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                for watch in self.watches {
                    group.addTask { await self.follow(watch) }
                }
            }
        }
        logger.notice("event watching stopped")
    }

    /// Keeps one host's stream open until cancelled.
    private func follow(_ watch: Watch) async {
        let host = watch.client.host
        let names = watch.scopes.keys.sorted()
        var backoff = ReconnectBackoff(initial: .milliseconds(500), maximum: .seconds(30))
        var since: DockerTimestamp? = nil
        var broken = false
        // Discarding: a long-running watcher must not keep the result of every publish.
        await withDiscardingTaskGroup { publishes in
            while !Task.isCancelled {
                let opened = ContinuousClock.now
                let openedAt = DockerTimestamp.now
                var counted = false
                var reason = "closed by Docker"
                do {
                    // After a break, only go on once the host answers again.
                    if broken { _ = try await watch.client.version() }
                    let stream = try await watch.client.events(containers: names, actions: ContainerFault.eventActions, since: since)
                    openStreams.add(1, ordering: .relaxed)
                    counted = true
                    logger.info(
                        "following Docker events",
                        metadata: [
                            "host": "\(host)", "containers": "\(names.count)", "since": "\(since.map { "\($0)" } ?? "now")",
                        ])
                    if since == nil { since = openedAt }
                    if broken {
                        broken = false
                        let checks = catchUp(on: watch)
                        logger.notice(
                            "event stream reopened after a break: checking every watched container of the host",
                            metadata: [
                                "host": "\(host)", "containers": "\(names.count)",
                            ])
                        publishes.addTask { await self.publish(checks, event: nil, fault: nil, host: host) }
                    }
                    for try await item in stream {
                        switch item {
                        case .event(let event):
                            since = DockerTimestamp.resuming(after: event.timeNano)
                            guard let request = request(for: event, on: watch) else { continue }
                            publishes.addTask { await self.publish(request.envelopes, event: event, fault: request.fault, host: host) }
                        case .undecodable(let line, let why):
                            logger.warning(
                                "Docker sent an event line that is not an event; skipped",
                                metadata: [
                                    "host": "\(host)", "line": "\(line)", "reason": "\(why)",
                                ])
                        }
                    }
                } catch {
                    reason = "\(error)"
                }
                if counted { openStreams.subtract(1, ordering: .relaxed) }
                if Task.isCancelled { break }
                // A stream that stayed up a while was healthy: start the back-off again.
                if ContinuousClock.now - opened > .seconds(30) { backoff.reset() }
                broken = true
                let delay = backoff.next()
                logger.warning(
                    "Docker event stream ended; reopening (the periodic sweep covers the gap)",
                    metadata: [
                        "host": "\(host)", "reason": "\(reason)", "retry_in": "\(delay.logDescription)",
                        "since": "\(since.map { "\($0)" } ?? "now")",
                    ])
                try? await Task.sleep(for: delay)
            }
            publishes.cancelAll()
        }
    }

    /// The requests for an event on a watched container that reports a fault, if it does.
    private func request(for event: DockerEvent, on watch: Watch) -> (envelopes: [Envelope], fault: ContainerFault)? {
        guard let name = event.containerName, watch.scopes[name] != nil,
            let fault = ContainerFault(action: event.action, attributes: event.attributes)
        else { return nil }
        return (requests(for: [name], on: watch), fault)
    }

    /// A targeted request for every watched container of a host.
    private func catchUp(on watch: Watch) -> [Envelope] { requests(for: watch.scopes.keys.sorted(), on: watch) }

    /// A targeted `container_auto_heal` request per scope of each named container, expiring
    /// after `requestLifetime`.
    private func requests(for names: [String], on watch: Watch) -> [Envelope] {
        let now = Date()
        return names.flatMap { name in
            watch.scopes[name, default: []].map { scope in
                Envelope(
                    payload: .containerAutoHeal, scope: scope, issuedAt: now,
                    expiresAt: now.addingTimeInterval(requestLifetime.timeInterval),
                    target: TargetKey(host: watch.client.host, container: name))
            }
        }
    }

    /// Publishes the requests for one event's fault (or, with no event, a catch-up after a break).
    private func publish(_ envelopes: [Envelope], event: DockerEvent?, fault: ContainerFault?, host: String) async {
        for envelope in envelopes {
            var log: Logger.Metadata = [
                "host": "\(host)", "container": "\(envelope.target?.container ?? "")",
                "scope": "\(envelope.scope.rawValue)", "request": "\(envelope.id)",
            ]
            if let fault { log["fault"] = "\(fault)" }
            if let event {
                let age = DockerTimestamp(nanosecondsSinceEpoch: event.timeNano).duration(until: .now)
                log["event_age"] = "\(age.logDescription)"
            }
            do {
                try await publisher.publish(envelope, timeout: requestLifetime)
                if fault != nil {
                    logger.notice("container fault in Docker events: targeted heal requested", metadata: log)
                } else {
                    logger.info("catch-up check requested", metadata: log)
                }
            } catch {
                log["error"] = "\(error)"
                logger.error("targeted request could not be published; the periodic sweep covers it", metadata: log)
            }
        }
    }
}
