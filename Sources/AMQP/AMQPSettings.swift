/// One broker of a cluster.
public struct AMQPServer: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int = 5672) {
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// How to reach and log in to the broker.
public struct AMQPSettings: Sendable {
    /// Brokers tried in turn, one per connection attempt.
    public var servers: [AMQPServer]
    public var vhost: String
    public var username: String
    public var password: String
    /// AMQP heartbeat in seconds; 0 turns heartbeats off.
    public var heartbeatSeconds: Int
    public var connectTimeout: Duration
    /// Shown in the broker's connection list.
    public var connectionName: String
    /// AMQP over TLS; nil for plain TCP.
    public var tls: AMQPTLSSettings?

    public init(
        servers: [AMQPServer], vhost: String = "/", username: String = "guest", password: String = "guest",
        heartbeatSeconds: Int = 30, connectTimeout: Duration = .seconds(5), connectionName: String = "cloud-auto-heal",
        tls: AMQPTLSSettings? = nil
    ) {
        self.tls = tls
        precondition(!servers.isEmpty, "at least one broker")
        self.servers = servers
        self.vhost = vhost
        self.username = username
        self.password = password
        self.heartbeatSeconds = heartbeatSeconds
        self.connectTimeout = connectTimeout
        self.connectionName = connectionName
    }
}

/// Certificates for AMQP over TLS (PEM files). The broker's certificate is always verified.
public struct AMQPTLSSettings: Sendable, Hashable {
    /// nil uses the system's CA store.
    public var caFile: String?
    public var certificateFile: String?
    public var keyFile: String?
    /// Check the broker's DNS name against its certificate (rabbitmq-c does not match IP addresses).
    public var verifyHostname: Bool

    public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil, verifyHostname: Bool = true) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.verifyHostname = verifyHostname
    }
}
