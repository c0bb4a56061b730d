import Foundation
import HTTP

/// A whole Nova of the lab image (scripts/lab) for one test: a controller (MariaDB, Placement,
/// nova-api, conductor, scheduler, the Glance/Neutron stand-in) and two nova-compute
/// containers with the fake driver, `compute-1` and `compute-2`, on the host network with ports
/// of their own and RPC on a vhost of the local RabbitMQ. The Nova API takes token `admin`.
public final class NovaLabStack: Sendable {
    public let prefix: String
    public let novaPort: Int
    public let placementPort: Int
    public let controller: String
    public let computes: [String: String]
    private let environment: [String]

    public var endpoint: String { "http://127.0.0.1:\(novaPort)/v2.1" }

    /// Starts the stack with RPC on `vhost` and waits until both computes are up in Nova.
    public init(prefix: String, vhost: String) async throws {
        try NovaLabContainer.require()
        self.prefix = prefix
        novaPort = TestEnvironment.unusedPort()
        placementPort = TestEnvironment.unusedPort()
        let mysql = TestEnvironment.unusedPort(), standin = TestEnvironment.unusedPort()
        environment = [
            "-e", "LAB_MYSQL_PORT=\(mysql)", "-e", "LAB_PLACEMENT_PORT=\(placementPort)", "-e", "LAB_NOVA_PORT=\(novaPort)",
            "-e", "LAB_STANDIN_PORT=\(standin)", "-e", "LAB_TRANSPORT_URL=rabbit://guest:guest@127.0.0.1:5672/\(RabbitAdmin.encode(vhost))",
        ]
        controller = "\(prefix)-controller"
        computes = ["compute-1": "\(prefix)-compute-1", "compute-2": "\(prefix)-compute-2"]
        for name in [controller] + computes.values { _ = try? DockerCLI.run(["rm", "-f", name]) }
        try DockerCLI.run(
            ["run", "-d", "--name", controller, "--network", "host", "--label", "autoheal-test=1"] + environment
                + [NovaLabContainer.image, "controller"])
        // A stack that does not come up is removed here: the caller gets no value to remove, and a
        // whole Nova left running would slow every later test (CI saw that cascade).
        do {
            for (host, name) in computes { try startCompute(host, name: name) }
            // About 70 s alone; CI at 385fc51 saw over 120 s twice beside the policy suite's lab
            // (two cores shared with its nova-manage runs).
            try await waitUntil("the Nova controller to be healthy", timeout: .seconds(240), every: .milliseconds(500)) {
                try DockerCLI.run(["inspect", "-f", "{{.State.Health.Status}}", self.controller]) == "healthy"
            }
            try await waitUntil("both computes to be up in Nova", timeout: .seconds(120), every: .milliseconds(500)) {
                let up = (try? await self.services())?.filter { $0.binary == "nova-compute" && $0.state == "up" }.map(\.host) ?? []
                return Set(up) == ["compute-1", "compute-2"]
            }
            try discoverHosts()
            _ = try await call("POST", "/flavors", ["flavor": ["name": "lab", "ram": 512, "vcpus": 1, "disk": 1, "id": "lab"]])
        } catch {
            // The controller's own last words go with the error: the containers are removed next.
            let said = (try? spawnAndWait(["docker", "logs", "--tail", "40", controller]))?.output ?? "(no logs)"
            for name in [controller] + computes.values { _ = try? DockerCLI.run(["rm", "-f", name]) }
            throw TestSetupError("\(error); the end of \(controller)'s output:\n\(said)")
        }
    }

    /// `nova-manage cell_v2 discover_hosts`, as a deployment runs it once computes are up: maps
    /// them to the cell (the scheduler's periodic discovery is not waited for).
    public func discoverHosts() throws {
        let (status, output) = try spawnAndWait(["docker", "exec", controller, "nova-manage", "cell_v2", "discover_hosts", "--verbose"])
        guard status == 0 else { throw TestSetupError("discover_hosts: \(output)") }
    }

    private func startCompute(_ host: String, name: String) throws {
        try DockerCLI.run(
            ["run", "-d", "--name", name, "--network", "host", "--label", "autoheal-test=1", "-e", "LAB_COMPUTE_HOST=\(host)"]
                + environment + [NovaLabContainer.image, "compute"])
    }

    /// The nova-compute (or other) services Nova reports.
    public struct Service: Sendable {
        public var id: String
        public var binary: String
        public var host: String
        public var state: String
        public var forcedDown: Bool
    }

    public func services() async throws -> [Service] {
        let answer = try await call("GET", "/os-services")
        return (answer["services"] as? [[String: Any]] ?? []).map {
            Service(
                id: "\($0["id"] ?? "")", binary: $0["binary"] as? String ?? "", host: $0["host"] as? String ?? "",
                state: $0["state"] as? String ?? "", forcedDown: $0["forced_down"] as? Bool ?? false)
        }
    }

    public func service(_ host: String) async throws -> Service? {
        try await services().first { $0.binary == "nova-compute" && $0.host == host }
    }

    /// Boots a server on the host and waits until it is ACTIVE there; its id. A boot the
    /// scheduler refuses because it has not mapped a new compute host yet (it looks every 2 s)
    /// ends in ERROR: that one is deleted and the boot tried again.
    public func boot(on host: String, metadata: [String: String] = [:]) async throws -> String {
        for attempt in 1...5 {
            let answer = try await call(
                "POST", "/servers",
                [
                    "server": [
                        "name": "vm-\(UUID().uuidString.prefix(6).lowercased())", "imageRef": "5a2c6f4e-1b3d-4e8f-9a0b-7c6d5e4f3a2b",
                        "flavorRef": "lab", "networks": "none", "availability_zone": "nova:\(host)", "metadata": metadata,
                    ] as [String: Any]
                ])
            guard let id = (answer["server"] as? [String: Any])?["id"] as? String else { throw TestSetupError("boot: \(answer)") }
            var seen = ("", "")
            try await waitUntil("server \(id) to be ACTIVE on \(host) or in ERROR", timeout: .seconds(90), every: .milliseconds(500)) {
                seen = try await self.server(id)
                return seen == ("ACTIVE", host) || seen.0 == "ERROR"
            }
            if seen == ("ACTIVE", host) { return id }
            let fault = ((try? await call("GET", "/servers/\(id)"))?["server"] as? [String: Any])?["fault"] ?? "no fault"
            try await call("DELETE", "/servers/\(id)")
            try? discoverHosts()
            if attempt == 5 { throw TestSetupError("server boots on \(host) end in ERROR (\(fault)):\n\(logs())") }
            try await Task.sleep(for: .seconds(2))
        }
        throw TestSetupError("unreachable")
    }

    /// A server's status and host.
    public func server(_ id: String) async throws -> (status: String, host: String) {
        let server = try await call("GET", "/servers/\(id)")["server"] as? [String: Any] ?? [:]
        return (server["status"] as? String ?? "", server["OS-EXT-SRV-ATTR:host"] as? String ?? "")
    }

    /// Stops a compute's container: the host failing, as far as Nova can tell.
    public func stopCompute(_ host: String) throws { try DockerCLI.run(["stop", "-t", "1", computes[host]!]) }

    /// `nova-manage placement audit --verbose` in the controller: its exit code and output.
    public func audit() throws -> (exitCode: Int32, output: String) {
        try spawnAndWait(["docker", "exec", controller, "nova-manage", "placement", "audit", "--verbose"])
    }

    /// What Placement holds for a consumer, by provider.
    public func allocations(_ consumer: String) async throws -> [String: Any] {
        let response = try await TestEnvironment.http.execute(
            HTTPRequest(
                url: "http://127.0.0.1:\(placementPort)/allocations/\(consumer)",
                headers: [("X-Auth-Token", "admin"), ("OpenStack-API-Version", "placement 1.28")], timeout: .seconds(10)))
        let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] ?? [:]
        return object["allocations"] as? [String: Any] ?? [:]
    }

    @discardableResult
    func call(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> [String: Any] {
        var request = HTTPRequest(
            method: method, url: endpoint + path,
            headers: [("X-Auth-Token", "admin"), ("OpenStack-API-Version", "compute 2.53"), ("Content-Type", "application/json")],
            timeout: .seconds(30))
        if let body { request.body = Array(try JSONSerialization.data(withJSONObject: body)) }
        let response = try await TestEnvironment.http.execute(request)
        guard (200..<300).contains(response.status) else {
            throw TestSetupError("Nova \(method) \(path): \(response.status) \(response.bodyText.prefix(300))")
        }
        return response.body.isEmpty ? [:] : (try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] ?? [:])
    }

    /// The logs of every container, for a failing test's report.
    public func logs() -> String {
        ([controller] + computes.values).map { name in
            "== \(name)\n" + ((try? spawnAndWait(["docker", "logs", "--tail", "20", name]).output) ?? "")
        }.joined(separator: "\n")
    }

    public func remove() {
        for name in [controller] + computes.values { _ = try? DockerCLI.run(["rm", "-f", name]) }
    }
}
