import Foundation
import HTTP

/// The RabbitMQ management HTTP API, for what tests set up and look at: a vhost per test,
/// queue depths, and messages in the dead-letter queue.
public enum RabbitAdmin {
    static let basicAuth = "Basic " + Data("guest:guest".utf8).base64EncodedString()

    public static func call(_ method: String, _ path: String, json: Any? = nil) async throws -> HTTPResponse {
        var request = HTTPRequest(
            method: method, url: TestEnvironment.managementURL + path,
            headers: [("Authorization", basicAuth), ("Content-Type", "application/json")], timeout: .seconds(10))
        if let json { request.body = Array(try JSONSerialization.data(withJSONObject: json)) }
        return try await TestEnvironment.http.execute(request)
    }

    public static func encode(_ vhost: String) -> String {
        vhost.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_."))) ?? vhost
    }

    /// Creates a fresh vhost that guest may use, runs `body`, then deletes the vhost.
    public static func withVhost<T>(_ prefix: String, _ body: (String) async throws -> T) async throws -> T {
        try await TestEnvironment.requireRabbitMQ()
        let vhost = TestEnvironment.uniqueName("autoheal-test-\(prefix)")
        let created = try await call("PUT", "/api/vhosts/\(encode(vhost))", json: [:] as [String: String])
        guard (200..<300).contains(created.status) else {
            throw TestSetupError("cannot create vhost \(vhost): \(created.status) \(created.bodyText)")
        }
        let permitted = try await call(
            "PUT", "/api/permissions/\(encode(vhost))/guest", json: ["configure": ".*", "write": ".*", "read": ".*"])
        guard (200..<300).contains(permitted.status) else { throw TestSetupError("cannot grant guest on \(vhost): \(permitted.bodyText)") }
        do {
            let result = try await body(vhost)
            _ = try? await call("DELETE", "/api/vhosts/\(encode(vhost))")
            return result
        } catch {
            _ = try? await call("DELETE", "/api/vhosts/\(encode(vhost))")
            throw error
        }
    }

    public struct QueueInfo: Sendable {
        public var durable: Bool
        public var ready: Int
        public var unacked: Int
        public var consumers: Int
        public var arguments: [String: String]
    }

    /// A queue's state, or nil if it does not exist. Counts are refreshed by the broker every few seconds.
    public static func queue(_ name: String, vhost: String) async throws -> QueueInfo? {
        let response = try await call("GET", "/api/queues/\(encode(vhost))/\(encode(name))")
        if response.status == 404 { return nil }
        guard response.status == 200, let q = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] else {
            throw TestSetupError("queue \(name): \(response.status) \(response.bodyText)")
        }
        let args = (q["arguments"] as? [String: Any] ?? [:]).mapValues { "\($0)" }
        return QueueInfo(
            durable: q["durable"] as? Bool ?? false, ready: q["messages_ready"] as? Int ?? 0,
            unacked: q["messages_unacknowledged"] as? Int ?? 0, consumers: q["consumers"] as? Int ?? 0, arguments: args)
    }

    /// Exchange type and durability, or nil if it does not exist.
    public static func exchange(_ name: String, vhost: String) async throws -> (type: String, durable: Bool)? {
        let response = try await call("GET", "/api/exchanges/\(encode(vhost))/\(encode(name))")
        if response.status == 404 { return nil }
        guard let e = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] else { return nil }
        return (e["type"] as? String ?? "", e["durable"] as? Bool ?? false)
    }

    /// Routing keys binding `exchange` to `queue`.
    public static func bindings(exchange: String, queue: String, vhost: String) async throws -> [String] {
        let response = try await call("GET", "/api/bindings/\(encode(vhost))/e/\(encode(exchange))/q/\(encode(queue))")
        guard let list = try JSONSerialization.jsonObject(with: Data(response.body)) as? [[String: Any]] else { return [] }
        return list.compactMap { $0["routing_key"] as? String }
    }

    public struct Message: Sendable {
        public var body: String
        public var headers: [String: String]
        public var contentType: String? = nil
        public var messageID: String? = nil
        /// 2: persistent.
        public var deliveryMode: Int? = nil
    }

    /// Takes up to `count` messages off a queue (they are removed).
    public static func take(_ count: Int, from queue: String, vhost: String) async throws -> [Message] {
        let response = try await call(
            "POST", "/api/queues/\(encode(vhost))/\(encode(queue))/get",
            json: ["count": count, "ackmode": "ack_requeue_false", "encoding": "auto"] as [String: Any])
        guard let list = try JSONSerialization.jsonObject(with: Data(response.body)) as? [[String: Any]] else {
            throw TestSetupError("get from \(queue): \(response.status) \(response.bodyText)")
        }
        return list.map { m in
            let props = m["properties"] as? [String: Any] ?? [:]
            let headers = (props["headers"] as? [String: Any] ?? [:]).mapValues { "\($0)" }
            return Message(
                body: m["payload"] as? String ?? "", headers: headers, contentType: props["content_type"] as? String,
                messageID: props["message_id"] as? String, deliveryMode: props["delivery_mode"] as? Int)
        }
    }

    /// Publishes a raw body through the management API (as another, older client would).
    public static func publishRaw(_ body: String, exchange: String, routingKey: String, vhost: String) async throws {
        let response = try await call(
            "POST", "/api/exchanges/\(encode(vhost))/\(encode(exchange))/publish",
            json: ["properties": ["delivery_mode": 2], "routing_key": routingKey, "payload": body, "payload_encoding": "string"]
                as [String: Any])
        guard response.status == 200, response.bodyText.contains("\"routed\":true") else {
            throw TestSetupError("publish to \(exchange) not routed: \(response.status) \(response.bodyText)")
        }
    }
}
