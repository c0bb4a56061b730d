import Foundation
import FuzzTargets
import Testing

/// Replays every seed of the fuzz corpora and every input that once crashed a target
/// (`Tests/Fuzz/corpus/TARGET/`, `Tests/Fuzz/crashes/TARGET/`) through the same code the fuzzer
/// drives: a trap or a broken invariant fails the run. `scripts/fuzz.sh` explores further.
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    static func inputs(_ kind: String, _ target: FuzzTarget) -> [URL] {
        let directory = root.appendingPathComponent(kind).appendingPathComponent(target.rawValue)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { directory.appendingPathComponent($0) }
    }

    @Test(arguments: FuzzTarget.allCases)
    func seedsAndFormerCrashesRunClean(_ target: FuzzTarget) throws {
        let seeds = Self.inputs("corpus", target)
        #expect(!seeds.isEmpty, "no seed corpus for \(target.rawValue) in Tests/Fuzz/corpus")
        for file in seeds + Self.inputs("crashes", target) {
            target.run(Array(try Data(contentsOf: file)))
        }
    }
}
