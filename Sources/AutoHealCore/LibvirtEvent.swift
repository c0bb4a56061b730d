import FoundationEssentials

/// One line of `virsh event --loop --timestamp`:
/// `2026-11-30 14:14:51.918+0000: event 'lifecycle' for domain 'instance-0000000a': Suspended Paused`.
public struct LibvirtEvent: Sendable, Equatable {
    /// `lifecycle`, `reboot`, `io-error`…
    public var kind: String
    /// The domain's name (virsh prints names, not UUIDs).
    public var domain: String
    /// For a lifecycle event, the event and its detail: `Suspended Paused`, `PMSuspended Memory`.
    public var detail: String

    public init(kind: String, domain: String, detail: String) {
        self.kind = kind
        self.domain = domain
        self.detail = detail
    }

    /// Reads a line; nil for anything else virsh prints (`events received: 3`, blank lines).
    public init?(line: String) {
        guard let eventStart = line.firstRange(of: "event '") else { return nil }
        let rest = line[eventStart.upperBound...]
        guard let kindEnd = rest.firstRange(of: "' for domain '") else { return nil }
        let afterName = rest[kindEnd.upperBound...]
        // A name may hold anything but the separator that follows it; take the last one.
        guard let nameEnd = afterName.ranges(of: "':").last else { return nil }
        kind = String(rest[..<kindEnd.lowerBound])
        domain = String(afterName[..<nameEnd.lowerBound])
        detail = afterName[nameEnd.upperBound...].trimmingBlanks()
        guard !kind.isEmpty, !domain.isEmpty else { return nil }
    }

    /// A lifecycle event after which the name may stand for another domain (or none).
    public var forgetsName: Bool {
        kind == "lifecycle" && (detail.hasPrefix("Undefined") || detail.hasPrefix("Renamed"))
    }

    /// Reads `virsh list --all --uuid --name` (`UUID NAME` per line) into name → UUID;
    /// lines that are not that are skipped.
    public static func parseNamesAndUUIDs(_ output: String) -> [String: String] {
        var names: [String: String] = [:]
        for line in output.split(whereSeparator: { $0 == "\n" }) {
            let text = line.trimmingBlanks()
            guard let space = text.firstIndex(of: " ") else { continue }
            let uuid = text[..<space].lowercased()
            let name = text[text.index(after: space)...].trimmingBlanks()
            guard TargetKey.isUUID(uuid), !name.isEmpty else { continue }
            names[name] = uuid
        }
        return names
    }

    /// A lifecycle event that leaves the domain suspended (paused for any reason, or
    /// power-suspended): worth a look by `libvirt_suspend_wakeup`, which reads the domain's
    /// state and reason and decides — a domain a person paused is left alone there.
    public var suspends: Bool {
        kind == "lifecycle" && (detail.hasPrefix("Suspended") || detail.hasPrefix("PMSuspended"))
    }
}
