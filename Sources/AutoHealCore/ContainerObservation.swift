/// What a Docker host said about one container, reduced to what heal decisions need.
public struct ContainerObservation: Sendable, Equatable {
    /// `State.Status`: created, running, paused, restarting, removing, exited or dead.
    public var status: String
    /// `State.Health.Status` (none, starting, healthy, unhealthy), or nil without a health check.
    public var health: String?
    public var exitCode: Int
    public var oomKilled: Bool

    public init(status: String, health: String? = nil, exitCode: Int = 0, oomKilled: Bool = false) {
        self.status = status
        self.health = health
        self.exitCode = exitCode
        self.oomKilled = oomKilled
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
