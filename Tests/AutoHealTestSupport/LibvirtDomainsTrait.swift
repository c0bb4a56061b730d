import Testing

/// `.libvirtDomains`: the tests of a suite that makes libvirt domains run one at a time with
/// every other such test, in any suite (see ``Libvirt``).
public struct LibvirtDomainsTrait: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        guard !test.isSuite else { return try await function() }
        try await Libvirt.exclusive.run(function)
    }
}

extension Trait where Self == LibvirtDomainsTrait {
    public static var libvirtDomains: Self { LibvirtDomainsTrait() }
}
