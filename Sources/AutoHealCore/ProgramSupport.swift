import FoundationEssentials
import Glibc
import Logging

/// What every program of Cloud Auto Heal does first: read the config (or explain why
/// not and exit), set up logging, and say which config it runs with.
public enum ProgramSupport {
    /// Exit status for a configuration problem (sysexits' EX_CONFIG).
    public static let configExitCode: Int32 = 78

    /// Loads the config; on error prints it to standard error and exits with 78.
    public static func loadConfigOrExit(_ path: String?) -> AutoHealConfig {
        do {
            return try AutoHealConfig.load(path: path ?? AutoHealConfig.defaultPath)
        } catch {
            LogFile.standardError.write(line: "error: \(error)")
            exit(configExitCode)
        }
    }

    /// Sets up logging to standard output and the config's log directory, and logs the
    /// config's warnings. Returns a logger for `area`.
    public static func bootstrapLogging(_ config: AutoHealConfig, area: String, fileLogging: Bool = true) -> Logger {
        let problem = LogSetup.bootstrap(
            directory: fileLogging ? config.logging.directory : nil, level: config.logging.level, format: config.logging.format)
        if fileLogging { LogSetup.reopenOnHangup() }
        let logger = Logger(label: area)
        if let problem { logger.error("\(problem)") }
        for warning in config.warnings { logger.warning("config: \(warning)") }
        return logger
    }
}
