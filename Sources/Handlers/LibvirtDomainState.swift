import AutoHealCore
import FoundationEssentials

/// A libvirt domain's state and reason as `virsh domstate --reason` prints them:
/// `running (booted)`, `paused (I/O error)`, `shut off (destroyed)`, `pmsuspended (unknown)`.
public struct LibvirtDomainState: Sendable, Equatable, CustomStringConvertible {
    /// running, idle, paused, in shutdown, shut off, crashed, pmsuspended (or blocked, no state).
    public var state: String
    /// The reason in parentheses, "" if none was printed.
    public var reason: String

    public init(state: String, reason: String = "") {
        self.state = state
        self.reason = reason
    }

    static let knownStates: Set<String> = [
        "no state", "running", "idle", "blocked", "paused", "in shutdown", "shut off", "shutdown", "crashed", "pmsuspended",
    ]

    /// Parses the first non-empty line of `virsh domstate --reason` output; nil if it is not one.
    public init?(parsing output: String) {
        guard
            let line = output.split(whereSeparator: { $0 == "\n" }).map({ $0.trimmingBlanks() }).first(where: {
                !$0.isEmpty
            })
        else { return nil }
        var state = line
        var reason = ""
        if let open = line.firstIndex(of: "("), line.hasSuffix(")") {
            state = line[..<open].trimmingBlanks()
            reason = String(line[line.index(after: open)..<line.index(before: line.endIndex)])
        }
        guard Self.knownStates.contains(state) else { return nil }
        self.state = state
        self.reason = reason
    }

    public var description: String { reason.isEmpty ? state : "\(state) (\(reason))" }

    /// UUIDs from `virsh list --all --uuid`, one per line; nil if any line is not a UUID.
    public static func parseUUIDList(_ output: String) -> [String]? {
        var uuids: [String] = []
        for line in output.split(whereSeparator: { $0 == "\n" }).map({ $0.trimmingBlanks() }) where !line.isEmpty {
            guard TargetKey.isUUID(line) else { return nil }
            uuids.append(line.lowercased())
        }
        return uuids
    }
}
