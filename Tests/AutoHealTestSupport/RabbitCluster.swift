import AMQP
import Foundation

/// The three-node RabbitMQ cluster of scripts/rabbit-cluster.sh (ahc1..3@localhost, AMQP on
/// 127.0.0.1:5681..5683), which a test may cut up: kill a node, partition one away, bring it
/// back. Administration goes through rabbitmqctl on a node that is up.
public enum RabbitCluster {
    public static let nodes = [1, 2, 3]
    public static func node(_ n: Int) -> String { "ahc\(n)@localhost" }
    public static func port(_ n: Int) -> Int { 5680 + n }
    /// `rabbitmq_addr` listing all three nodes.
    public static let brokerList = nodes.map { "127.0.0.1:\(port($0))" }.joined(separator: ", ")

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/rabbit-cluster.sh").path
    }

    public static func settings(_ vhost: String) -> AMQPSettings {
        AMQPSettings(
            servers: nodes.map { AMQPServer(host: "127.0.0.1", port: port($0)) }, vhost: vhost, heartbeatSeconds: 5,
            connectTimeout: .seconds(2))
    }

    /// Runs rabbitmqctl against node `n`; throws with its output when it fails.
    @discardableResult
    public static func ctl(_ n: Int, _ arguments: [String], cookie: String? = nil) throws -> String {
        var argv = ["rabbitmqctl", "-q", "-n", node(n)]
        if let cookie { argv += ["--erlang-cookie", cookie] }
        let (code, output) = try spawnAndWait(argv + arguments)
        guard code == 0 else { throw TestSetupError("rabbitmqctl -n \(node(n)) \(arguments.joined(separator: " ")): \(output)") }
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Whether RabbitMQ runs on node `n` (not paused, not stopped); `cookie` for a partitioned node.
    public static func isRunning(_ n: Int, cookie: String? = nil) -> Bool {
        (try? ctl(n, ["eval", "rabbit:is_running()."], cookie: cookie)) == "true"
    }

    /// Starts whatever of the cluster is not running (idempotent; about 45 s from nothing).
    public static func start() throws {
        let (code, output) = try spawnAndWait(["/bin/bash", script, "start"])
        guard code == 0 else { throw TestSetupError("rabbit-cluster.sh start failed: \(output)") }
    }

    /// The operating-system process of node `n`'s Erlang VM.
    public static func pid(_ n: Int) throws -> Int32 {
        let text = try ctl(n, ["eval", "list_to_integer(os:getpid())."])
        guard let pid = Int32(text) else { throw TestSetupError("no pid for \(node(n)): \(text)") }
        return pid
    }

    /// The node leading a quorum queue (or stream).
    public static func leader(of queue: String, vhost: String, asking n: Int) throws -> Int {
        let text = try ctl(n, ["list_queues", "-p", vhost, "name", "leader", "--formatter", "json"])
        guard let rows = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]],
            let leader = rows.first(where: { $0["name"] as? String == queue })?["leader"] as? String,
            let n = nodes.first(where: { node($0) == leader })
        else { throw TestSetupError("no leader for \(queue) in \(vhost): \(text)") }
        return n
    }

    /// A fresh vhost on the cluster that guest may use, deleted afterwards.
    public static func withVhost<T>(_ prefix: String, _ body: (String) async throws -> T) async throws -> T {
        guard nodes.allSatisfy({ isRunning($0) }) else {
            throw TestSetupError("the RabbitMQ cluster is not running: run `bash scripts/rabbit-cluster.sh start`")
        }
        let vhost = TestEnvironment.uniqueName("autoheal-cluster-\(prefix)")
        try ctl(1, ["add_vhost", vhost])
        try ctl(1, ["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"])
        func cleanUp() { if let up = nodes.first(where: { isRunning($0) }) { _ = try? ctl(up, ["delete_vhost", vhost]) } }
        do {
            let result = try await body(vhost)
            cleanUp()
            return result
        } catch {
            cleanUp()
            throw error
        }
    }

    /// Cuts node `n` off from the other two without stopping it: it takes another Erlang
    /// cookie and drops its distribution links, so neither side can reconnect — what a network
    /// partition looks like to RabbitMQ. Returns the cookie to pass to ``heal(_:cookie:)``.
    public static func partition(_ n: Int) throws -> String {
        let cookie = "autoheal-partition-\(UInt32.random(in: 0...UInt32.max))"
        try ctl(n, ["eval", "erlang:set_cookie(node(), '\(cookie)'), [erlang:disconnect_node(N) || N <- nodes()], ok."])
        return cookie
    }

    /// Ends a ``partition(_:)``: the node takes the cluster's cookie again and reconnects.
    public static func heal(_ n: Int, cookie: String) throws {
        let real = try String(contentsOfFile: "/var/lib/rabbitmq/.erlang.cookie", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let peer = node(nodes.first { $0 != n }!)
        try ctl(n, ["eval", "erlang:set_cookie(node(), '\(real)'), net_adm:ping('\(peer)')."], cookie: cookie)
    }
}
