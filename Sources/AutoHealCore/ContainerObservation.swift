/// What a Docker host said about one container, reduced to what heal decisions need.
import FoundationEssentials

public struct ContainerObservation: Sendable, Equatable {
    /// `State.Status`: created, running, paused, restarting, removing, exited or dead.
    public var status: String
    /// `State.Health.Status` (none, starting, healthy, unhealthy), or nil without a health check.
    public var health: String?
    public var exitCode: Int
    public var oomKilled: Bool
    /// When the container last started; nil if never.
    public var startedAt: Date?

    public init(status: String, health: String? = nil, exitCode: Int = 0, oomKilled: Bool = false, startedAt: Date? = nil) {
        self.status = status
        self.health = health
        self.exitCode = exitCode
        self.oomKilled = oomKilled
        self.startedAt = startedAt
    }

    /// Reads Docker's `StartedAt` (`2026-11-22T05:00:20.229114293Z`) to the second; the zero
    /// time Docker reports for a container never started is nil.
    public static func parseDockerTime(_ text: String?) -> Date? {
        guard let text, text.count >= 19, !text.hasPrefix("0001-") else { return nil }
        return WireTime.parse(String(text.prefix(19)) + "Z")
    }

    /// A clean stop: exit 0, or 143 after SIGTERM, and not OOM-killed. Likely on purpose.
    public var stoppedCleanly: Bool {
        status == "exited" && (exitCode == 0 || exitCode == 143) && !oomKilled
    }

    /// "running/unhealthy", "exited(137)", "paused": the state as log lines show it.
    public var summary: String {
        var s = status
        if status == "exited" || status == "dead" { s += "(\(exitCode)\(oomKilled ? ",oom" : ""))" }
        if let health, health != "none" { s += "/\(health)" }
        return s
    }

    /// Running and, if it has a health check, healthy.
    public var isHealthy: Bool {
        status == "running" && (health == nil || health == "none" || health == "healthy")
    }
}
