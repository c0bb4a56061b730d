import Glibc

/// The command line of the two daemons: `--config PATH` (or `--config=PATH`) and `--help`,
/// nothing else.
///
/// Read here, not by swift-argument-parser (which the CLI keeps): for one option, the parser's
/// code was 0.4 MB of each daemon's idle memory, touched once at start-up (BENCHMARKS.md).
/// Its conventions are kept: help on standard output with exit 0, a usage error on standard
/// error with exit 64 (EX_USAGE), a failure of the program's body as `Error: …` with exit 1.
public struct DaemonCommandLine: Equatable, Sendable {
    /// `--config`; nil means ``AutoHealConfig/defaultPath``.
    public var config: String?

    public enum Outcome: Equatable, Sendable {
        case run(DaemonCommandLine)
        case help
        case usageError(String)
    }

    public init(config: String? = nil) { self.config = config }

    /// Reads the arguments after the program's name.
    public static func parse(_ arguments: [String]) -> Outcome {
        var line = DaemonCommandLine()
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            switch argument {
            case "-h", "--help": return .help
            case "--config":
                guard let value = rest.popFirst(), !value.hasPrefix("-") || value == "-" else {
                    return .usageError("Missing value for '--config <config>'")
                }
                line.config = value
            case _ where argument.hasPrefix("--config="):
                let value = String(argument.dropFirst("--config=".count))
                guard !value.isEmpty else { return .usageError("Missing value for '--config <config>'") }
                line.config = value
            default:
                return .usageError("Unknown option '\(argument)'")
            }
        }
        return .run(line)
    }

    /// The help text, in swift-argument-parser's layout.
    public static func help(program: String, abstract: String) -> String {
        """
        OVERVIEW: \(abstract)

        USAGE: \(program) [--config <config>]

        OPTIONS:
          --config <config>       Config file (default \(AutoHealConfig.defaultPath)).
          -h, --help              Show help information.

        """
    }

    /// Parses the process's arguments, then runs `body` with them on a task while the main
    /// thread waits (``OSThread/waitForTask(_:)``); answers `--help` and usage errors itself.
    /// Exits the process: 0, or 1 when `body` throws, or 64 for a usage error.
    ///
    /// This, not Swift's `async` main, is the daemons' entry: on Linux that one ends the main
    /// thread through `dispatch_main()`, whose `pthread_exit` unwinds the stack and reads the
    /// unwind tables, 0.7 MB that stay resident for the life of the process (BENCHMARKS.md).
    /// Nothing in the daemons runs on the main actor or the main queue.
    public static func main(
        program: String, abstract: String, _ body: @escaping @Sendable (DaemonCommandLine) async throws -> Void
    ) -> Never {
        switch parse(Array(CommandLine.arguments.dropFirst())) {
        case .help:
            print(help(program: program, abstract: abstract), terminator: "")
            exit(0)
        case .usageError(let message):
            LogFile.standardError.write(
                line: "Error: \(message)\nUsage: \(program) [--config <config>]\n  See '\(program) --help' for more information.")
            exit(64)
        case .run(let line):
            let failed = OSThread.waitForTask { () async -> Bool in
                do {
                    try await body(line)
                    return false
                } catch {
                    LogFile.standardError.write(line: "Error: \(error)")
                    return true
                }
            }
            exit(failed ? 1 : 0)
        }
    }
}
