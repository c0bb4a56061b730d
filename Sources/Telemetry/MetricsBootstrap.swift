import CoreMetrics
import Prometheus

/// Installs the Prometheus backend for swift-metrics, once per process.
public enum MetricsBootstrap {
    /// Bootstraps the metrics system and returns the registry `/metrics` reads.
    /// Sweep durations get buckets from 10 ms to 5 min.
    public static func prometheus() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["autoheal_sweep_duration_seconds"] = [
            .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(300),
        ]
        MetricsSystem.bootstrap(factory)
        return registry
    }
}
