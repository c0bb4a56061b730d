import AMQP
import AutoHealCore
import AutoHealTestSupport
import DockerAPI
import Foundation
import HTTP
import Handlers
import Messaging
import Testing

/// TLS to the Docker hosts (dockerd --tlsverify) and to RabbitMQ (an AMQPS listener), with
/// certificates made by openssl in the test.
@Suite("TLS to Docker and RabbitMQ", .ownThreads, .timeLimit(.minutes(3)))
struct TLSTests {
    @Test func theReviverHealsThroughDockerWithTLSAndIsRefusedWithoutAClientCertificate() async throws {
        try await TestEnvironment.requireDocker()
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let port = 23761
        let docker = try PrivateDockerd(name: TestEnvironment.uniqueName("tls"), tls: (port, certificates))
        let name = TestEnvironment.uniqueName("tls-nova_api")
        let container = try TestContainer(name: name, host: docker.host)
        defer { container.remove() }
        try await container.waitFor(health: "healthy")
        try container.kill()
        try await container.waitFor(status: "exited")

        let config = try AutoHealConfig.parse(
            """
            [hosts]
            control_hosts = 127.0.0.1:\(port)
            compute_hosts =
            docker_tls = true
            docker_ca = \(certificates.ca)
            docker_cert = \(certificates.clientCertificate)
            docker_key = \(certificates.clientKey)
            [containers]
            control = \(name)
            [policy]
            grace_after_start = 0
            backoff_initial = 0
            revive_stopped = true
            """, path: "tls.conf")
        #expect(config.hosts.dockerTLS != nil)
        let logs = LogCapture()
        let reviver = TestHealing.reviver(config, logger: logs.logger("test.tls"))
        let outcome = await reviver.handle(Envelope(payload: .containerAutoHeal, scope: .control))
        #expect(outcome.acted == 1, "\(logs.all.map(\.message))")
        try await container.waitFor(health: "healthy")

        // The monitor's event stream goes through the same TLS client: a kill is seen in it
        // (replayed from `since`, so the order of kill and subscription does not matter).
        let watcher = try #require(DockerHosts(config: config, http: TestEnvironment.http).client(forHost: "127.0.0.1:\(port)"))
        let before = DockerTimestamp(nanosecondsSinceEpoch: Int64((Date().timeIntervalSince1970 - 2) * 1e9))
        try container.kill()
        try await container.waitFor(status: "exited")
        let events = try await watcher.events(containers: [name], actions: ContainerFault.eventActions, since: before)
        let died = Locked<DockerEvent?>(nil)
        let reader = Task {
            for try await item in events {
                if case .event(let e) = item, e.action == "die" {
                    died.withLock { $0 = e }
                    return
                }
            }
        }
        defer { reader.cancel() }
        try await waitUntil("the die event through the TLS stream", timeout: .seconds(20)) { died.withLock { $0 } != nil }
        #expect(died.withLock { $0?.containerName } == name)
        try DockerCLI.run(["start", name], host: docker.host)

        // The same daemon refuses a client without a certificate, and plain HTTP.
        let anonymous = DockerClient(
            host: "127.0.0.1:\(port)", address: .tcp(host: "127.0.0.1", port: port), http: TestEnvironment.http,
            timeout: .seconds(5), tls: HTTPTLSSettings(caFile: certificates.ca))
        await #expect(throws: DockerError.self) { _ = try await anonymous.inspectContainer(name) }
        let plain = DockerClient(
            host: "127.0.0.1:\(port)", address: .tcp(host: "127.0.0.1", port: port), http: TestEnvironment.http, timeout: .seconds(5))
        await #expect(throws: DockerError.self) { _ = try await plain.inspectContainer(name) }
        // And a healer that does not trust the daemon's CA refuses the daemon.
        let untrusting = DockerClient(
            host: "127.0.0.1:\(port)", address: .tcp(host: "127.0.0.1", port: port), http: TestEnvironment.http, timeout: .seconds(5),
            tls: HTTPTLSSettings(certificateFile: certificates.clientCertificate, keyFile: certificates.clientKey))
        do {
            _ = try await untrusting.version()
            Issue.record("a daemon whose certificate is not trusted was accepted")
        } catch {
            #expect("\(error)".contains("TLS") || "\(error)".lowercased().contains("certificate"), "\(error)")
        }
    }

    @Test func theDockerDaemonsNameIsCheckedAgainstItsCertificate() async throws {
        try await TestEnvironment.requireDocker()
        // A daemon whose certificate names only "localhost", not 127.0.0.1.
        let certificates = try TestCertificates(serverNames: ["localhost"])
        defer { certificates.remove() }
        let port = 23762
        let docker = try PrivateDockerd(name: TestEnvironment.uniqueName("tlsname"), tls: (port, certificates))
        defer { withExtendedLifetime(docker) {} }
        let tls = HTTPTLSSettings(caFile: certificates.ca, certificateFile: certificates.clientCertificate, keyFile: certificates.clientKey)
        let byName = DockerClient(
            host: "localhost:\(port)", address: .tcp(host: "localhost", port: port), http: TestEnvironment.http, timeout: .seconds(5),
            tls: tls)
        #expect(try await byName.version().apiVersion.isEmpty == false)
        let byAddress = DockerClient(
            host: "127.0.0.1:\(port)", address: .tcp(host: "127.0.0.1", port: port), http: TestEnvironment.http, timeout: .seconds(5),
            tls: tls)
        do {
            _ = try await byAddress.version()
            Issue.record("a daemon whose certificate does not name 127.0.0.1 was accepted at 127.0.0.1")
        } catch {
            #expect("\(error)".contains("subject name") || "\(error)".contains("does not match"), "\(error)")
        }
    }

    @Test func publisherAndConsumerConnectThroughAnAMQPSListener() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let node = try PrivateRabbitNode(name: "autoheal-tls", port: 5714, tls: (5715, certificates))
        defer { node.destroy() }
        let config = try AutoHealConfig.parse(
            """
            [rabbitmq]
            rabbitmq_addr = localhost:5715
            amqps = true
            ssl_ca = \(certificates.ca)
            ssl_cert = \(certificates.clientCertificate)
            ssl_key = \(certificates.clientKey)
            """, path: "amqps.conf")
        let settings = HealTopology.settings(from: config, connectionName: "test-amqps")
        #expect(settings.tls != nil)
        let logs = LogCapture()
        let publisher = HealRequestPublisher(settings: settings, logger: logs.logger("test.amqps"))
        let request = Envelope(payload: .containerAutoHeal, scope: .control)
        try await publisher.publish(request, timeout: .seconds(20))
        await publisher.shutdown()
        let consumer = AMQPConsumer(
            settings: settings, topology: HealTopology.declaration(), queues: [Topology.queue(for: .control)], prefetch: 1,
            logger: logs.logger("test.amqps"))
        var received: AMQPDelivery? = nil
        for await delivery in consumer.deliveries {
            received = delivery
            await consumer.ack(delivery)
            break
        }
        await consumer.stop()
        #expect(received.map { (try? Envelope.decode($0.body, queueScope: .control))?.id } == request.id)

        // Port 5715 speaks only TLS: plain AMQP there gets no session.
        var plain = settings
        plain.tls = nil
        plain.connectTimeout = .seconds(2)
        let refused = HealRequestPublisher(settings: plain, logger: logs.logger("test.plain"))
        await #expect(throws: AMQPError.self) { try await refused.publish(request, timeout: .seconds(4)) }
        await refused.shutdown()
        // The broker's name is checked: its certificate names localhost (and 127.0.0.1 only as an
        // IP address, which rabbitmq-c does not match), so 127.0.0.1 is refused...
        var byAddress = settings
        byAddress.servers = [AMQPServer(host: "127.0.0.1", port: 5715)]
        let misnamed = HealRequestPublisher(settings: byAddress, logger: logs.logger("test.misnamed"))
        do {
            try await misnamed.publish(request, timeout: .seconds(4))
            Issue.record("a broker whose name is not in its certificate was accepted")
        } catch {
            #expect("\(error)".contains("hostname verification"), "\(error)")
        }
        await misnamed.shutdown()
        // ...unless ssl_verify_hostname = false (the CA is still checked).
        byAddress.tls?.verifyHostname = false
        let anyName = HealRequestPublisher(settings: byAddress, logger: logs.logger("test.anyname"))
        try await anyName.publish(Envelope(payload: .containerAutoHeal, scope: .compute), timeout: .seconds(20))
        await anyName.shutdown()
        // A client that does not trust the broker's CA is refused by its own check.
        var untrusting = settings
        untrusting.tls = AMQPTLSSettings(caFile: "/etc/ssl/certs/ca-certificates.crt")
        let doubtful = HealRequestPublisher(settings: untrusting, logger: logs.logger("test.untrusting"))
        await #expect(throws: AMQPError.self) { try await doubtful.publish(request, timeout: .seconds(4)) }
        await doubtful.shutdown()
    }
}
