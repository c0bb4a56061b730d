/// What a Docker event says went wrong with a container, if anything: the events the monitor
/// turns into a targeted heal request.
public enum ContainerFault: Sendable, Equatable, CustomStringConvertible {
    /// `health_status: unhealthy`.
    case unhealthy
    /// `die`, with the exit code when Docker gave one. A clean stop dies too: the engine's
    /// policy (not the monitor) decides whether that needs an action.
    case died(exitCode: Int?)
    /// `oom`: the kernel's OOM killer hit the container.
    case outOfMemory
    /// `pause`: its processes are frozen (no health check runs while paused, so no other
    /// event would tell).
    case paused

    /// The Docker event actions to subscribe to for these faults.
    public static let eventActions = ["die", "oom", "health_status", "pause"]

    /// The fault an event's action (and attributes) describe; nil for anything else
    /// (`health_status: healthy`, `start`…).
    public init?(action: String, attributes: [String: String]) {
        switch action {
        case "health_status: unhealthy", "health_status:unhealthy": self = .unhealthy
        case "die": self = .died(exitCode: attributes["exitCode"].flatMap { Int($0) })
        case "oom": self = .outOfMemory
        case "pause": self = .paused
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .unhealthy: "unhealthy"
        case .died(let code?): "died(\(code))"
        case .died(nil): "died"
        case .outOfMemory: "oom"
        case .paused: "paused"
        }
    }
}
