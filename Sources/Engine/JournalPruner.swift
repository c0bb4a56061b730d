import AutoHealCore
import FoundationEssentials
import Journal
import Logging
import ServiceLifecycle

/// Keeps the decision journal to `[engine] journal_days` while the engine runs: deletes older
/// decisions at start and then every `every` (an hour by default), so a journal on a busy
/// engine that is never restarted stays bounded.
public struct JournalPruner: Service {
    let journal: DecisionJournal
    let keep: TimeInterval
    let every: Duration
    let logger: Logger

    public init(journal: DecisionJournal, keepDays: Int, every: Duration = .seconds(3600), logger: Logger) {
        self.journal = journal
        self.keep = TimeInterval(keepDays) * 86_400
        self.every = every
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let cutoff = Date().addingTimeInterval(-keep)
            do {
                let deleted = try await journal.prune(olderThan: cutoff)
                if deleted > 0 {
                    logger.info(
                        "journal pruned",
                        metadata: ["deleted": "\(deleted)", "before": "\(Envelope.formatDate(cutoff))", "journal": "\(journal.path)"])
                }
            } catch {
                logger.warning("cannot prune the decision journal", metadata: ["journal": "\(journal.path)", "error": "\(error)"])
            }
            // Ends at once on shutdown.
            let every = self.every
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: every) }
        }
    }
}
