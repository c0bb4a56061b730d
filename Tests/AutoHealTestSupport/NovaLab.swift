import Foundation

/// A container of the Nova lab image (scripts/lab): Debian's real nova-manage and a Placement
/// API on SQLite, bootstrapped, healthy in a few seconds. Each test makes its own, so the
/// orphans and instances it makes are its own.
public struct NovaLabContainer: Sendable {
    public static let image = "autoheal/nova-lab:latest"
    public let name: String

    /// Fails at once when the lab image is not built.
    public static func require() throws {
        guard (try? DockerCLI.run(["image", "inspect", "-f", "{{.Id}}", image])) != nil else {
            throw TestSetupError("no image \(image); run `\(TestEnvironment.setupCommand)` (it builds scripts/lab once)")
        }
    }

    /// Starts one and waits until Placement answers.
    public init(name: String) async throws {
        try Self.require()
        self.name = name
        _ = try? DockerCLI.run(["rm", "-f", name])
        try DockerCLI.run(["run", "-d", "--name", name, "--network", "none", "--label", "autoheal-test=1", Self.image])
        try await waitUntil("\(name) to be healthy", timeout: .seconds(60), every: .milliseconds(200)) {
            try DockerCLI.run(["inspect", "-f", "{{.State.Health.Status}}", name]) == "healthy"
        }
    }

    /// Runs `lab-tool ARGS` in the container; its JSON answer.
    @discardableResult
    public func tool(_ arguments: [String]) throws -> [String: Any] {
        let output = try DockerCLI.run(["exec", name, "lab-tool"] + arguments)
        guard let line = output.split(separator: "\n").last,
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        else { throw TestSetupError("lab-tool \(arguments.joined(separator: " ")): \(output)") }
        return object
    }

    /// An allocation against a new provider whose consumer is no instance.
    public func orphan() throws -> (consumer: String, provider: String) {
        let made = try tool(["orphan"])
        return (made["consumer"] as! String, made["provider"] as! String)
    }

    /// An ACTIVE instance on a compute node of its own, made with Nova's objects, with no allocations.
    public func instanceWithoutAllocations() throws -> (instance: String, provider: String) {
        let made = try tool(["instance"])
        return (made["instance"] as! String, made["provider"] as! String)
    }

    /// What Placement holds for a consumer: resources per provider (empty when it has none).
    public func allocations(_ consumer: String) throws -> [String: [String: Int]] {
        let answer = try tool(["allocations", consumer])
        let byProvider = answer["allocations"] as? [String: [String: Any]] ?? [:]
        return byProvider.mapValues { ($0["resources"] as? [String: Int]) ?? [:] }
    }

    /// `start`, `stop`, or `hang` (a listener that accepts and never answers in its place).
    public func placement(_ action: String) throws { try tool(["placement", action]) }

    /// Removes the container.
    public func remove() { _ = try? DockerCLI.run(["rm", "-f", name]) }
}
