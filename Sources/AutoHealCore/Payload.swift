/// A kind of heal request, named as the payload string on the wire.
///
/// The raw values are the payload names the old monitor sent; they must not change.
public enum Payload: String, Sendable, CaseIterable, Codable, Hashable {
    case containerAutoHeal = "container_auto_heal"
    case allocationHeal = "allocation_heal"
    case libvirtSuspendWakeup = "libvirt_suspend_wakeup"
    /// A compute host that failed: confirmed from Docker and Nova, fenced, evacuated.
    case computeHostFailure = "compute_host_failure"

    /// The scopes (and so the exchanges) a periodic payload is published to.
    public var scopes: [Scope] {
        switch self {
        case .containerAutoHeal: [.control, .compute]
        case .allocationHeal: [.control]
        case .libvirtSuspendWakeup, .computeHostFailure: [.compute]
        }
    }
}
