import AutoHealCore
import HTTP

/// One ``DockerClient`` per configured host (control, compute and VIP), sharing one
/// ``HTTPClient`` so every Docker call of the process runs on the same transfer thread.
public final class DockerHosts: Sendable {
    private let clients: [String: DockerClient]

    public init(config: AutoHealConfig, http: HTTPClient) {
        var clients: [String: DockerClient] = [:]
        let timeout = Duration.seconds(config.hosts.dockerTimeoutSeconds)
        let tls = config.hosts.dockerTLS.map {
            HTTPTLSSettings(caFile: $0.caFile, certificateFile: $0.certificateFile, keyFile: $0.keyFile)
        }
        for host in config.hosts.control + config.hosts.compute + (config.hosts.vip.map { [$0] } ?? []) {
            clients[host.name] = DockerClient(
                host: host.name, address: host.docker, http: http, timeout: timeout,
                connectTimeout: .seconds(config.hosts.dockerConnectTimeoutSeconds), tls: tls,
                maxInFlight: config.hosts.dockerMaxRequestsPerHost)
        }
        self.clients = clients
    }

    /// The client of a host named in the config, or nil for a host the config does not name.
    public func client(forHost name: String) -> DockerClient? { clients[name] }
}
