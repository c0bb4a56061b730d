import CoreMetrics

/// Every metric Cloud Auto Heal records, in one place, through swift-metrics (exported as
/// Prometheus text by the daemons' `/metrics`). Names follow Prometheus conventions: counters
/// end in `_total`, durations are histograms in seconds. Each name always has the same labels.
/// A metric object made before the metrics system is bootstrapped stays a no-op: programs
/// bootstrap first (`MetricsBootstrap`), then build their clients.
public enum HealMetrics {
    /// Monitor: a request the broker confirmed.
    public static func published(_ payload: Payload, scope: Scope) {
        Counter(label: "autoheal_messages_published_total", dimensions: [("payload", payload.rawValue), ("scope", scope.rawValue)])
            .increment()
    }

    /// Monitor: a request that could not be published (broker away past its deadline).
    public static func publishFailed(_ payload: Payload, scope: Scope) {
        Counter(label: "autoheal_publish_failures_total", dimensions: [("payload", payload.rawValue), ("scope", scope.rawValue)])
            .increment()
    }

    /// Engine: a valid request taken from a queue (whether it then ran or was superseded).
    public static func consumed(_ payload: Payload, scope: Scope) {
        Counter(label: "autoheal_messages_consumed_total", dimensions: [("payload", payload.rawValue), ("scope", scope.rawValue)])
            .increment()
    }

    /// Engine: a message refused and moved to the dead-letter queue.
    public static func deadLettered(queue: String) {
        Counter(label: "autoheal_messages_dead_lettered_total", dimensions: [("queue", queue)]).increment()
    }

    /// An action on a container, domain or placement, with its result
    /// (`done`, `failed`, `dry_run`, `skipped`).
    public static func action(handler: String, kind: String, result: String) {
        Counter(label: "autoheal_actions_total", dimensions: [("handler", handler), ("kind", kind), ("result", result)])
            .increment()
    }

    /// Targets (host/container) whose restart budget is spent.
    public static func quarantinedTargets(_ count: Int) {
        Gauge(label: "autoheal_quarantined_targets").record(count)
    }

    /// How long one request's handler took (a container sweep, an allocation heal...).
    public static func handled(_ payload: Payload, duration: Duration) {
        Timer(label: "autoheal_sweep_duration_seconds", dimensions: [("payload", payload.rawValue)])
            .recordNanoseconds(duration.nanoseconds)
    }

    /// 1 while the daemon's broker connection is up.
    public static func brokerConnected(_ up: Bool) {
        Gauge(label: "autoheal_broker_connected").record(up ? 1 : 0)
    }

    /// The gauge of one Docker host: 1 when the last call got an answer, 0 when it did not.
    /// Made once per client, since it is set on every Docker call.
    public static func dockerHostReachability(_ host: String) -> Gauge {
        Gauge(label: "autoheal_docker_host_up", dimensions: [("host", host)])
    }

    /// Docker event streams open right now (monitor).
    public static func eventStreamsOpen(_ count: Int) {
        Gauge(label: "autoheal_event_streams_open").record(count)
    }
}
