#if canImport(Glibc)
    import Glibc
#endif

/// Recognises IP address literals (what a listening socket can bind without a resolver).
public enum IPAddressText {
    /// True for a dotted IPv4 address or an IPv6 address (without brackets).
    public static func isLiteral(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }
}
