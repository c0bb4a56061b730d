import AutoHealCore
import DockerAPI
import Foundation
import Policy

/// An in-memory container engine for fast tests of the policy and the handlers: containers
/// with a state that start/unpause/restart change, and exec answered by a script. Every call
/// is recorded. It stands in for ``DockerClient`` only where a test is about the healer's
/// decisions; the same handlers are tested against the real Docker engine elsewhere.
public final class FakeRuntime: ContainerRuntime {
    public enum Call: Sendable, Equatable, CustomStringConvertible {
        case inspect(String)
        case start(String)
        case unpause(String)
        case restart(String)
        case exec(String, [String])

        public var description: String {
            switch self {
            case .inspect(let c): "inspect \(c)"
            case .start(let c): "start \(c)"
            case .unpause(let c): "unpause \(c)"
            case .restart(let c): "restart \(c)"
            case .exec(let c, let command): "exec \(c): \(command.joined(separator: " "))"
            }
        }
    }

    /// Answers an exec: the command's result, and whether it changed something (`virsh
    /// resume`, `nova-manage … --delete`); nil for a command the script does not know (exit 127).
    public typealias Script = @Sendable (_ container: String, _ command: [String]) -> (result: ExecResult, changes: Bool)?

    private struct State {
        var containers: [String: ContainerDetails.State] = [:]
        var calls: [Call] = []
        var changes: [Call] = []
    }

    public let host: String
    private let state = Locked(State())
    private let script: Script
    /// How long a changing call takes (to see whether two overlap).
    private let actionTime: Duration
    /// Counts changing calls in flight, possibly shared by several runtimes.
    public let meter: ConcurrencyMeter
    /// How long an inspect takes to answer (a slow host).
    private let inspectTime: Duration
    /// Whether a container with a health check is healthy after a start or restart (false:
    /// the action does not help).
    private let actionHelps: Bool

    public init(
        host: String, actionTime: Duration = .milliseconds(20), inspectTime: Duration = .zero, actionHelps: Bool = true,
        meter: ConcurrencyMeter = ConcurrencyMeter(), script: @escaping Script = { _, _ in nil }
    ) {
        self.host = host
        self.script = script
        self.actionTime = actionTime
        self.inspectTime = inspectTime
        self.actionHelps = actionHelps
        self.meter = meter
    }

    /// Puts a container in a state (`health` nil: no health check).
    public func set(
        _ name: String, status: String, health: String? = nil, exitCode: Int = 0, startedAt: Date = Date(timeIntervalSinceNow: -3600)
    ) {
        let started = Envelope.formatDate(startedAt)
        state.withLock {
            $0.containers[name] = ContainerDetails.State(
                status: status, oomKilled: false, exitCode: exitCode, startedAt: started, health: health.map { .init(status: $0) })
        }
    }

    /// Whether ``ping()`` answers (a host that stopped answering).
    public let reachable = Locked(true)

    public func ping() async throws(DockerError) {
        guard reachable.withLock({ $0 }) else { throw .unreachable(host: host, detail: "fake host cut off") }
    }

    public var calls: [Call] { state.withLock { $0.calls } }
    /// The calls that changed something.
    public var changes: [Call] { state.withLock { $0.changes } }
    public func status(_ name: String) -> String? { state.withLock { $0.containers[name]?.status } }

    public func inspectContainer(_ name: String) async throws(DockerError) -> ContainerDetails {
        if inspectTime > .zero { try? await Task.sleep(for: inspectTime) }
        let found = state.withLock { s -> ContainerDetails.State? in
            s.calls.append(.inspect(name))
            return s.containers[name]
        }
        guard let found else { throw .noSuchContainer(host: host, container: name) }
        return ContainerDetails(id: String(repeating: "0", count: 64), name: "/" + name, state: found)
    }

    public func startContainer(_ name: String) async throws(DockerError) {
        try await change(.start(name), name) {
            $0.status = "running"
            $0.exitCode = 0
        }
    }

    public func unpauseContainer(_ name: String) async throws(DockerError) {
        try await change(.unpause(name), name) { $0.status = "running" }
    }

    public func restartContainer(_ name: String, stopTimeout: Int) async throws(DockerError) {
        try await change(.restart(name), name) { $0.status = "running" }
    }

    public func exec(_ container: String, command: [String], timeout: Duration) async throws(DockerError) -> ExecResult {
        guard state.withLock({ $0.containers[container]?.status }) == "running" else {
            throw .refused(host: host, status: 409, message: "container \(container) is not running")
        }
        guard let (result, changes) = script(container, command) else {
            record(.exec(container, command), changes: false)
            return ExecResult(exitCode: 127, stdout: "", stderr: "\(command.first ?? ""): not found")
        }
        if changes {
            begin(.exec(container, command))
            try? await Task.sleep(for: actionTime)
            end()
        } else {
            record(.exec(container, command), changes: false)
        }
        return result
    }

    private func change(
        _ call: Call, _ name: String, _ body: @Sendable (inout ContainerDetails.State) -> Void
    ) async throws(DockerError) {
        guard state.withLock({ $0.containers[name] }) != nil else { throw .noSuchContainer(host: host, container: name) }
        begin(call)
        try? await Task.sleep(for: actionTime)
        state.withLock { s in
            body(&s.containers[name]!)
            if s.containers[name]!.health != nil {
                s.containers[name]!.health = .init(status: actionHelps ? "healthy" : "unhealthy")
            }
            s.containers[name]!.startedAt = Envelope.formatDate(Date())
        }
        end()
    }

    private func record(_ call: Call, changes: Bool) {
        state.withLock { s in
            s.calls.append(call)
            if changes { s.changes.append(call) }
        }
    }

    private func begin(_ call: Call) {
        state.withLock { s in
            s.calls.append(call)
            s.changes.append(call)
        }
        meter.begin()
    }

    private func end() { meter.end() }
}

/// Counts things in flight and the most there were at once.
public final class ConcurrencyMeter: Sendable {
    private let counts = Locked((now: 0, most: 0))
    public init() {}
    public func begin() {
        counts.withLock {
            $0.now += 1
            $0.most = max($0.most, $0.now)
        }
    }
    public func end() { counts.withLock { $0.now -= 1 } }
    public var most: Int { counts.withLock { $0.most } }
}

/// Fake runtimes by host name.
public struct FakeRuntimes: ContainerRuntimes {
    public let hosts: [String: FakeRuntime]

    public init(_ runtimes: [FakeRuntime]) {
        hosts = Dictionary(uniqueKeysWithValues: runtimes.map { ($0.host, $0) })
    }

    public func runtime(forHost name: String) -> (any ContainerRuntime)? { hosts[name] }

    /// Every changing call on every host.
    public var changes: [FakeRuntime.Call] { hosts.values.flatMap(\.changes) }
}

/// Counts requests asked to be looked at again, with when.
public final class RecordingRequeuer: Requeuer {
    private let requests = Locked<[(request: Envelope, at: ContinuousClock.Instant)]>([])
    public init() {}
    public func lookAgain(_ request: Envelope, at: ContinuousClock.Instant) { requests.withLock { $0.append((request, at)) } }
    public var all: [(request: Envelope, at: ContinuousClock.Instant)] { requests.withLock { $0 } }
}

/// Keeps notifications (synchronously) instead of sending them.
public final class RecordingNotifier: Notifier {
    private let texts = Locked<[String]>([])
    public init() {}
    public func notify(_ text: String) { texts.withLock { $0.append(text) } }
    public var all: [String] { texts.withLock { $0 } }
}
