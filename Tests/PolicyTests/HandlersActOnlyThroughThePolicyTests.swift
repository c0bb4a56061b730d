import Foundation
import Testing

/// The rule the policy depends on, checked on the source: a handler observes through
/// `Observer` and changes nothing itself. It never holds a Docker client or host list, and
/// never calls a changing runtime method; every change is a `HealAction` for the executor.
@Suite("Handlers act only through the policy")
struct HandlersActOnlyThroughThePolicyTests {
    static let forbidden = [
        "DockerClient", "DockerHosts", "ContainerRuntime", ".startContainer(", ".unpauseContainer(", ".restartContainer(",
        ".exec(",
    ]

    @Test func noHandlerReachesAChangingCall() throws {
        let handlers = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/Handlers")
        let files = try FileManager.default.contentsOfDirectory(atPath: handlers.path).filter { $0.hasSuffix(".swift") }
        #expect(files.count >= 5)
        for file in files {
            let text = try String(contentsOf: handlers.appendingPathComponent(file), encoding: .utf8)
            for word in Self.forbidden {
                #expect(!text.contains(word), "Sources/Handlers/\(file) uses \(word): act through PolicyExecutor.perform instead")
            }
        }
    }
}
