import AutoHealCore
import FoundationEssentials

/// What `nova-manage placement audit --verbose [--delete]` reported, read from its output.
///
/// The lines it prints per orphaned allocation (Nova's documented wording):
/// - `Allocations were set against consumer UUID <c> but no existing instances or active migrations are related.`
/// - `Allocations for consumer UUID <c> on Resource Provider <rp> can be deleted: <allocations>`
/// - with `--delete`: `Deleted allocations for consumer UUID <c> on Resource Provider <rp>: <allocations>`
/// Other lines are kept as ``unrecognized`` so a change of wording is noticed, not ignored.
public struct PlacementAuditReport: Sendable, Equatable {
    public struct Allocation: Sendable, Equatable {
        public var consumer: String
        public var resourceProvider: String
        public var allocations: String
    }

    /// Consumers named as having allocations but no instance or migration.
    public var orphanedConsumers: [String] = []
    public var deletable: [Allocation] = []
    public var deleted: [Allocation] = []
    public var unrecognized: [String] = []

    public init(parsing output: String) {
        for raw in output.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let line = raw.trimmingBlanks()
            guard !line.isEmpty else { continue }
            if let c = Self.match(line, prefix: "Allocations were set against consumer UUID ", until: " but no existing instances") {
                orphanedConsumers.append(c)
            } else if let a = Self.allocation(line, prefix: "Allocations for consumer UUID ", separator: " can be deleted:") {
                deletable.append(a)
            } else if let a = Self.allocation(line, prefix: "Deleted allocations for consumer UUID ", separator: ":") {
                deleted.append(a)
            } else {
                unrecognized.append(String(line))
            }
        }
    }

    /// The UUID between `prefix` and `until`, if the line has that shape and it is a UUID.
    static func match(_ line: String, prefix: String, until: String) -> String? {
        // Search only after the prefix: `until` may begin with the space the prefix ends with.
        guard line.hasPrefix(prefix) else { return nil }
        let rest = line.dropFirst(prefix.count)
        guard let end = rest.firstRange(of: until) else { return nil }
        let value = String(rest[..<end.lowerBound])
        return TargetKey.isUUID(value) ? value : nil
    }

    /// `<prefix><consumer> on Resource Provider <rp><separator> <allocations>`.
    static func allocation(_ line: String, prefix: String, separator: String) -> Allocation? {
        guard line.hasPrefix(prefix) else { return nil }
        let afterPrefix = line.dropFirst(prefix.count)
        guard let on = afterPrefix.firstRange(of: " on Resource Provider ") else { return nil }
        let consumer = String(afterPrefix[..<on.lowerBound])
        let rest = afterPrefix[on.upperBound...]
        guard let sep = rest.firstRange(of: separator) else { return nil }
        let provider = String(rest[..<sep.lowerBound])
        let allocations = rest[sep.upperBound...].trimmingBlanks()
        guard TargetKey.isUUID(consumer), TargetKey.isUUID(provider) else { return nil }
        return Allocation(consumer: consumer, resourceProvider: provider, allocations: allocations)
    }
}

/// What `nova-manage placement heal_allocations --verbose [--dry-run]` reported: the
/// instances it created allocations for (or, with `--dry-run`, would create them for).
///
/// - `Successfully created allocations for instance <i>.`
/// - with `--dry-run`: `[dry-run] Create allocations for instance <i>...`
public struct HealAllocationsReport: Sendable, Equatable {
    public var created: [String] = []
    public var wouldCreate: [String] = []

    public init(parsing output: String) {
        for raw in output.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let line = raw.trimmingBlanks()
            if let instance = Self.uuid(after: "Successfully created allocations for instance ", in: line) {
                created.append(instance)
            } else if let instance = Self.uuid(after: "[dry-run] Create allocations for instance ", in: line) {
                wouldCreate.append(instance)
            }
        }
    }

    /// The UUID right after `prefix`, if the line starts so.
    static func uuid(after prefix: String, in line: String) -> String? {
        guard line.hasPrefix(prefix) else { return nil }
        let rest = line.dropFirst(prefix.count).prefix(36)
        return TargetKey.isUUID(rest) ? String(rest) : nil
    }
}

/// The documented exit codes of the two `nova-manage placement` commands the healer runs.
public enum NovaManageExit {
    /// What a failed run says went wrong, from either stream (nova-manage prints its traceback
    /// on stdout, and only a warning on stderr): the exception line that ends the last
    /// traceback, else the last ERROR log line, else the last line. At most 500 characters.
    public static func errorSummary(stdout: String, stderr: String) -> String {
        func lines(_ text: String) -> [String] {
            text.split(whereSeparator: { $0 == "\n" || $0 == "\r" })
                .map { String($0).replacing("\u{1b}[00m", with: "") }
                .filter { !$0.trimmingBlanks().isEmpty && !$0.hasPrefix("Modules with known eventlet monkey patching") }
        }
        let streams = [lines(stdout), lines(stderr)]
        for stream in streams {
            if let traceback = stream.lastIndex(where: { $0.hasPrefix("Traceback (most recent call last)") }),
                let exception = stream[traceback...].last(where: { !$0.hasPrefix(" ") && !$0.hasPrefix("Traceback") })
            {
                return String(exception.prefix(500))
            }
        }
        let all = streams.flatMap { $0 }
        let summary = all.last(where: { $0.contains(" ERROR ") }) ?? all.last ?? ""
        return String(summary.trimmingBlanks().prefix(500))
    }

    /// `nova-manage placement audit`.
    public static func audit(_ code: Int) -> String {
        switch code {
        case 0: "no orphaned allocations"
        case 1: "an unexpected error occurred"
        case 3: "orphaned allocations found"
        case 4: "orphaned allocations deleted"
        case 126: "nova-manage could not be started in the container (not found or not executable)"
        case 127: "invalid input"
        case 255: "unhandled exception"
        default: "undocumented exit code \(code)"
        }
    }

    /// `nova-manage placement heal_allocations`.
    public static func healAllocations(_ code: Int) -> String {
        switch code {
        case 0: "allocations created"
        case 1: "--max-count reached and more instances remain"
        case 2: "no compute node record found for an instance"
        case 3: "could not create or update allocations against the compute node's resource provider"
        case 4: "nothing to do: no allocations were missing"
        case 5: "could not query ports from neutron"
        case 6: "could not update ports in neutron"
        case 7: "could not roll back neutron port updates: manual steps needed"
        case 126: "nova-manage could not be started in the container (not found or not executable)"
        case 127: "invalid input"
        case 255: "unhandled exception"
        default: "undocumented exit code \(code)"
        }
    }
}
