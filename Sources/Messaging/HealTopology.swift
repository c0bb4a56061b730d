import AMQP
import AutoHealCore

/// The broker topology of Cloud Auto Heal, declared by every daemon on every connection:
/// durable direct exchanges and durable queues per scope bound by the scope's routing key,
/// and the dead-letter exchange and queue.
public enum HealTopology {
    /// Dead letters kept at most; the oldest are dropped past that.
    public static let deadLetterLimit = 10_000

    /// The topology for these queue settings. Monitor, engines and CLI must agree on them:
    /// they are queue arguments, and the broker refuses to redeclare a queue with others.
    public static func declaration(queueType: String = "classic", singleActiveConsumer: Bool = true) -> AMQPTopology {
        var topology = AMQPTopology()
        let typeArgument = queueType == "quorum" ? "quorum" : nil  // classic: leave the argument out, as the old system did
        for scope in Scope.allCases {
            topology.exchanges.append(.init(name: Topology.exchange(for: scope), type: "direct"))
            topology.queues.append(
                .init(
                    name: Topology.queue(for: scope), queueType: typeArgument,
                    singleActiveConsumer: singleActiveConsumer ? true : nil))
            topology.bindings.append(
                .init(
                    queue: Topology.queue(for: scope), exchange: Topology.exchange(for: scope),
                    routingKey: Topology.routingKey(for: scope)))
        }
        topology.exchanges.append(.init(name: Topology.deadLetterExchange, type: "fanout"))
        topology.queues.append(.init(name: Topology.deadLetterQueue, queueType: typeArgument, maxLength: deadLetterLimit))
        topology.bindings.append(.init(queue: Topology.deadLetterQueue, exchange: Topology.deadLetterExchange, routingKey: ""))
        topology.queues.append(
            .init(
                name: Topology.stateQueue, queueType: "stream", maxLengthBytes: Topology.stateRetentionBytes,
                streamSegmentBytes: Topology.stateSegmentBytes))
        topology.conflictAdvice = """
            A queue already exists with other arguments than [rabbitmq] queue_type = \(queueType) and \
            single_active_consumer = \(singleActiveConsumer) ask for (queues made by the old healer have none). \
            Either set those keys to match the existing queues, or migrate: stop the monitor and every engine, \
            delete the queues (rabbitmqctl delete_queue cloud-auto-heal.control -p VHOST, likewise \
            cloud-auto-heal.compute and cloud-auto-heal.dead-letter; queued sweeps are lost and the next period \
            replaces them), then start them again. Retrying with back-off until then.
            """
        return topology
    }

    public static func declaration(for config: AutoHealConfig) -> AMQPTopology {
        declaration(queueType: config.rabbitmq.queueType, singleActiveConsumer: config.rabbitmq.singleActiveConsumer)
    }

    /// Broker settings from the config.
    public static func settings(from config: AutoHealConfig, connectionName: String) -> AMQPSettings {
        AMQPSettings(
            servers: config.rabbitmq.brokers.map { AMQPServer(host: $0.host, port: $0.port) },
            vhost: config.rabbitmq.vhost, username: config.rabbitmq.username, password: config.rabbitmq.password,
            heartbeatSeconds: config.rabbitmq.heartbeatSeconds, connectionName: connectionName,
            tls: config.rabbitmq.tls.map {
                AMQPTLSSettings(
                    caFile: $0.caFile, certificateFile: $0.certificateFile, keyFile: $0.keyFile, verifyHostname: $0.verifyHostname)
            })
    }
}
