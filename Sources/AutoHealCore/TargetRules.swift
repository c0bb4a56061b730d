/// Which targets a request may name: only what the config lists.
extension AutoHealConfig {
    /// Why the healer refuses the request's target, or nil when it may act on it (or the
    /// request is a sweep). A targeted request must name a host of its scope as written in
    /// the config and, for `container_auto_heal`, a container of `[containers]` for that scope
    /// by name (Docker IDs and ID prefixes are refused); for `libvirt_suspend_wakeup`, a domain
    /// as `domain:UUID`, or `domain:*` for every domain of the host. `allocation_heal` takes no
    /// target.
    public func refusal(of request: Envelope) -> String? {
        guard let target = request.target else { return nil }
        let scope = request.scope.rawValue
        guard hosts.hosts(for: request.scope).contains(where: { $0.name == target.host }) else {
            return "target host \"\(Envelope.excerpt(target.host))\" is not a \(scope) host of the config ([hosts] \(scope)_hosts)"
        }
        switch request.payload {
        case .containerAutoHeal:
            guard containers[request.scope, default: []].contains(target.container) else {
                return "target container \"\(Envelope.excerpt(target.container))\" is not a \(scope) container of the config "
                    + "([containers] \(scope)); only configured containers, by name, may be acted on (no Docker IDs or ID prefixes)"
            }
        case .libvirtSuspendWakeup:
            guard let uuid = target.domainUUID, TargetKey.isUUID(uuid) || uuid == "*" else {
                return "a libvirt_suspend_wakeup target is domain:UUID or domain:*, got \"\(Envelope.excerpt(target.container))\""
            }
        case .allocationHeal, .computeHostFailure:
            return "\(request.payload.rawValue) takes no target"
        }
        return nil
    }
}

extension TargetKey {
    /// The UUID of a `domain:UUID` target, or nil.
    public var domainUUID: String? {
        container.hasPrefix("domain:") ? String(container.dropFirst("domain:".count)).lowercased() : nil
    }

    /// The target of a libvirt domain on a host.
    public static func domain(_ uuid: String, on host: String) -> TargetKey { TargetKey(host: host, container: "domain:\(uuid)") }

    /// Every domain of one host (`domain:*`): the check after a broken libvirt event stream.
    public static func allDomains(on host: String) -> TargetKey { TargetKey(host: host, container: "domain:*") }

    /// 8-4-4-4-12 hexadecimal digits.
    public static func isUUID<S: StringProtocol>(_ text: S) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.map(\.count) == [8, 4, 4, 4, 12] else { return false }
        return parts.allSatisfy { $0.allSatisfy(\.isHexDigit) }
    }
}
