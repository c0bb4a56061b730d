import AutoHealCore
import Foundation
import NovaAPI
import Policy

/// An in-memory Nova API for fast tests of the host-failure handler: nova-compute services by
/// host, servers by id. An evacuated server moves to the first other host whose service is
/// up. Records every changing call. The real Nova (scripts/lab) is used by the lab tests.
public final class FakeNova: NovaCompute {
    private struct State {
        var services: [String: NovaService] = [:]
        var servers: [String: NovaServer] = [:]
        var calls: [String] = []
    }

    private let state = Locked(State())

    public init(hosts: [String]) {
        state.withLock { s in
            for host in hosts {
                s.services[host] = NovaService(
                    id: UUID().uuidString.lowercased(), binary: "nova-compute", host: host, state: "up", status: "enabled",
                    forcedDown: false)
            }
        }
    }

    /// Sets what Nova says of a host's nova-compute (as its heartbeats would).
    public func setUp(_ host: String, _ up: Bool) { state.withLock { $0.services[host]?.state = up ? "up" : "down" } }

    @discardableResult
    public func addServer(on host: String, metadata: [String: String] = [:]) -> String {
        let id = UUID().uuidString.lowercased()
        state.withLock { $0.servers[id] = NovaServer(id: id, name: "vm-\(id.prefix(4))", status: "ACTIVE", host: host, metadata: metadata) }
        return id
    }

    /// The changing calls, in order ("force_down HOST", "evacuate ID"…).
    public var calls: [String] { state.withLock { $0.calls } }
    public func service(_ host: String) -> NovaService? { state.withLock { $0.services[host] } }
    public func host(of server: String) -> String? { state.withLock { $0.servers[server]?.host } }

    public func services(binary: String) async throws(NovaError) -> [NovaService] {
        state.withLock { Array($0.services.values).sorted { $0.host < $1.host } }
    }

    public func servers(onHost host: String) async throws(NovaError) -> [NovaServer] {
        state.withLock { $0.servers.values.filter { $0.host == host }.sorted { $0.id < $1.id } }
    }

    public func server(_ id: String) async throws(NovaError) -> NovaServer {
        guard let server = state.withLock({ $0.servers[id] }) else { throw .refused(status: 404, message: "no server \(id)") }
        return server
    }

    public func setForcedDown(serviceID: String, _ forcedDown: Bool) async throws(NovaError) {
        state.withLock { s in
            guard let host = s.services.first(where: { $0.value.id == serviceID })?.key else { return }
            s.services[host]?.forcedDown = forcedDown
            s.calls.append("\(forcedDown ? "force_down" : "unset_forced_down") \(host)")
        }
    }

    public func evacuate(serverID: String) async throws(NovaError) {
        try state.withLock { (s: inout State) throws(NovaError) in
            guard let server = s.servers[serverID], let source = server.host else { throw .refused(status: 404, message: "no server") }
            guard let service = s.services[source], !service.isUp || service.forcedDown else {
                throw .refused(status: 400, message: "Compute service of \(source) is still in use.")
            }
            guard let target = s.services.values.filter({ $0.host != source && $0.isUp && !$0.forcedDown }).map(\.host).sorted().first
            else {
                throw .refused(status: 400, message: "No valid host was found.")
            }
            s.servers[serverID]?.host = target
            s.calls.append("evacuate \(serverID)")
        }
    }
}

/// A fence that records the commands it was asked to run and answers with `exitCode`.
public final class RecordingFence: FenceRunner {
    private let commands = Locked<[[String]]>([])
    private let exitCode: Int32

    public init(exitCode: Int32 = 0) { self.exitCode = exitCode }

    public var all: [[String]] { commands.withLock { $0 } }

    public func run(_ command: [String], timeout: Duration) async -> FenceResult {
        commands.withLock { $0.append(command) }
        return FenceResult(
            exitCode: exitCode, output: exitCode == 0 ? "Chassis Power Control: Down/Off" : "Error: Unable to establish IPMI session")
    }
}
