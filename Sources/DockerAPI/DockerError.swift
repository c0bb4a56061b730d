/// Why a Docker Engine API call did not do what was asked.
public enum DockerError: Error, Equatable, CustomStringConvertible {
    /// The host did not answer: refused, reset, unresolvable.
    case unreachable(host: String, detail: String)
    /// The call's deadline passed.
    case timedOut(host: String, detail: String)
    /// No container with that name on the host (HTTP 404).
    case noSuchContainer(host: String, container: String)
    /// The daemon refused the call with this status and message.
    case refused(host: String, status: Int, message: String)
    /// The answer was not what the API documents.
    case badResponse(host: String, detail: String)
    /// A command run by exec did not finish in time (it may still run in the container).
    case execTimedOut(host: String, container: String, command: String, after: Duration)
    /// The calling task was cancelled (the daemon is stopping) before the call was sent.
    case cancelled(host: String)

    public var description: String {
        switch self {
        case .unreachable(let h, let d): "Docker on \(h) unreachable: \(d)"
        case .timedOut(let h, let d): "Docker on \(h) did not answer in time: \(d)"
        case .noSuchContainer(let h, let c): "no container \(c) on \(h)"
        case .refused(let h, let s, let m): "Docker on \(h) answered \(s): \(m)"
        case .badResponse(let h, let d): "unexpected answer from Docker on \(h): \(d)"
        case .execTimedOut(let h, let c, let cmd, let after):
            "`\(cmd)` in \(c) on \(h) did not finish within \(after) (it may still be running there)"
        case .cancelled(let h): "call to Docker on \(h) not sent: cancelled while waiting for its turn"
        }
    }
}
