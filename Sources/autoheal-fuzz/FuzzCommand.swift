import CFuzzerDriver
import Foundation
import FuzzTargets

/// `autoheal-fuzz`: the libFuzzer driver for the parsers of outside input (``FuzzTarget``).
///
/// Built by `scripts/fuzz.sh` with `-sanitize=fuzzer,address -DFUZZING`, it is a libFuzzer
/// program: `AUTOHEAL_FUZZ_TARGET=envelope autoheal-fuzz CORPUS_DIR -max_total_time=60`.
/// In a normal build it replays inputs without libFuzzer:
/// `autoheal-fuzz TARGET FILE_OR_DIR...` (a crash found by the fuzzer, reproduced in a debugger),
/// and writes the seeds the healer's own encoders make: `autoheal-fuzz write-seeds DIR`.
@main
enum FuzzCommand {
    static func main() {
        #if FUZZING
            guard let name = ProcessInfo.processInfo.environment["AUTOHEAL_FUZZ_TARGET"], let target = FuzzTarget(rawValue: name)
            else { usage("set AUTOHEAL_FUZZ_TARGET") }
            selected = target
            var argc = CommandLine.argc
            var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
            exit(LLVMFuzzerRunDriver(&argc, &argv, runSelected))
        #else
            let arguments = CommandLine.arguments.dropFirst()
            if arguments.first == "write-seeds", arguments.count == 2, let directory = arguments.last {
                for seed in FuzzSeeds.all() {
                    let folder = directory + "/" + seed.target.rawValue
                    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                    guard FileManager.default.createFile(atPath: folder + "/" + seed.name, contents: Data(seed.bytes)) else {
                        usage("cannot write \(folder)/\(seed.name)")
                    }
                }
                return
            }
            guard let name = arguments.first, let target = FuzzTarget(rawValue: name), arguments.count > 1 else {
                usage("give a target and input files or directories")
            }
            var count = 0
            for path in arguments.dropFirst() {
                for file in files(at: path) {
                    guard let data = FileManager.default.contents(atPath: file) else { usage("cannot read \(file)") }
                    target.run(Array(data))
                    count += 1
                }
            }
            print("\(target.rawValue): \(count) inputs replayed, none crashed")
        #endif
    }

    #if FUZZING
        nonisolated(unsafe) static var selected = FuzzTarget.envelope

        // libFuzzer calls this on its own thread, one input at a time.
        static let runSelected: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt = { data, size in
            FuzzCommand.selected.run(Array(UnsafeBufferPointer(start: data, count: size)))
            return 0
        }
    #endif

    static func files(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { usage("no such file: \(path)") }
        guard isDirectory.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().map { path + "/" + $0 }
    }

    static func usage(_ problem: String) -> Never {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
        FileHandle.standardError.write(Data("autoheal-fuzz: \(problem)\nusage: autoheal-fuzz \(names) FILE_OR_DIR...\n".utf8))
        exit(64)
    }
}
