import Testing

@testable import HTTP

/// Hosts given by address are kept out of curl's DNS cache (see `Transfer.hostIsAddress`).
@Suite("HTTP host addresses")
struct HTTPHostAddressTests {
    @Test(arguments: [
        ("http://127.0.0.1:2375/containers/json", true),
        ("https://user:pw@10.0.0.5/v2.1/servers", true),
        ("http://[::1]:2375/_ping", true),
        ("http://localhost/containers/json", false),
        ("https://keystone.example:5000/v3/auth/tokens", false),
        ("http://127.0.0.1.example/x", false),
        ("not a url", false),
    ])
    func addressOrName(url: String, isAddress: Bool) {
        #expect(Transfer.hostIsAddress(url) == isAddress)
    }
}
