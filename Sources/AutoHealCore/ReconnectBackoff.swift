/// Capped exponential back-off with full jitter between reconnect attempts.
public struct ReconnectBackoff: Sendable {
    public let initial: Duration
    public let maximum: Duration
    private var attempt = 0

    public init(initial: Duration = .milliseconds(200), maximum: Duration = .seconds(30)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The delay before the next attempt: a random point in [cap/2, cap], where cap doubles each time.
    public mutating func next() -> Duration {
        let factor = 1 << min(attempt, 20)
        attempt += 1
        let cap = min(initial * factor, maximum)
        let ms = Double(cap.components.seconds) * 1000 + Double(cap.components.attoseconds) / 1e15
        return .milliseconds(Int64(Double.random(in: (ms / 2)...ms)))
    }

    public mutating func reset() { attempt = 0 }
}
