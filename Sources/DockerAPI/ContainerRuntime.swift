/// What the healer needs from one host's container engine. ``DockerClient`` is the real one;
/// tests of the policy and the handlers use an in-memory one that runs in milliseconds.
///
/// Only the policy executor calls the changing methods (start, unpause, restart, and exec of
/// a command that changes something); handlers see a read-only view of it.
public protocol ContainerRuntime: Sendable {
    /// The host as written in the config.
    var host: String { get }
    /// Whether the engine answers at all (`GET /version`).
    func ping() async throws(DockerError)
    func inspectContainer(_ name: String) async throws(DockerError) -> ContainerDetails
    func startContainer(_ name: String) async throws(DockerError)
    func unpauseContainer(_ name: String) async throws(DockerError)
    /// Restarts, letting the container take up to `stopTimeout` seconds to stop.
    func restartContainer(_ name: String, stopTimeout: Int) async throws(DockerError)
    /// Runs `command` in the running `container`; its exit code and output.
    func exec(_ container: String, command: [String], timeout: Duration) async throws(DockerError) -> ExecResult
}

/// The runtime of every configured host, by the name the config gives it.
public protocol ContainerRuntimes: Sendable {
    /// nil for a host the config does not name.
    func runtime(forHost name: String) -> (any ContainerRuntime)?
}

extension DockerClient: ContainerRuntime {
    public func ping() async throws(DockerError) { _ = try await version() }

    public func exec(_ container: String, command: [String], timeout: Duration) async throws(DockerError) -> ExecResult {
        try await exec(container, command: command, timeout: timeout, maxOutputBytes: 4 << 20)
    }
}

extension DockerHosts: ContainerRuntimes {
    public func runtime(forHost name: String) -> (any ContainerRuntime)? { client(forHost: name) }
}
