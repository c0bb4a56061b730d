import AMQP
import AutoHealCore

/// The broker topology of Cloud Auto Heal, declared by every daemon on every connection:
/// durable direct exchanges and durable queues per scope bound by the scope's routing key,
/// and the dead-letter exchange and queue.
public enum HealTopology {
    public static var declaration: AMQPTopology {
        var topology = AMQPTopology()
        for scope in Scope.allCases {
            topology.exchanges.append(.init(name: Topology.exchange(for: scope), type: "direct"))
            topology.queues.append(.init(name: Topology.queue(for: scope)))
            topology.bindings.append(.init(
                queue: Topology.queue(for: scope), exchange: Topology.exchange(for: scope),
                routingKey: Topology.routingKey(for: scope)))
        }
        topology.exchanges.append(.init(name: Topology.deadLetterExchange, type: "fanout"))
        topology.queues.append(.init(name: Topology.deadLetterQueue))
        topology.bindings.append(.init(queue: Topology.deadLetterQueue, exchange: Topology.deadLetterExchange, routingKey: ""))
        return topology
    }

    /// Broker settings from the config.
    public static func settings(from config: AutoHealConfig, connectionName: String) -> AMQPSettings {
        AMQPSettings(
            servers: config.rabbitmq.brokers.map { AMQPServer(host: $0.host, port: $0.port) },
            vhost: config.rabbitmq.vhost, username: config.rabbitmq.username, password: config.rabbitmq.password,
            heartbeatSeconds: config.rabbitmq.heartbeatSeconds, connectionName: connectionName)
    }
}
