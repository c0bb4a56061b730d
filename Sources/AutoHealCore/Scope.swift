/// Which group of hosts a request is about: the control plane or the compute hosts.
///
/// Each scope has its own exchange, queue and routing key (see ``Topology``).
public enum Scope: String, Sendable, CaseIterable, Codable, Hashable {
    case control
    case compute
}
