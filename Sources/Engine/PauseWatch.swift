import AMQP
import AutoHealCore
import Foundation
import Handlers
import Logging
import Messaging
import Synchronization

/// The engine's answer to "is healing paused?": a `[policy] pause_file` that exists, or the
/// newest notice in the broker's pause queue (``PauseNotice``) that has not expired.
///
/// The broker copy is read every `interval` on its own connection, so every engine sees a
/// pause given from the deploy server, and it survives engine restarts. If the broker is
/// unreachable the last notice read stays in force.
public final class PauseWatch: HealingGate, Sendable {
    /// The newest notice read from the broker, shared with the watcher's thread.
    final class Latest: Sendable {
        let notice = Mutex<PauseNotice?>(nil)
        let logger: Logger
        init(logger: Logger) { self.logger = logger }

        func update(_ bodies: [[UInt8]]) {
            guard let newest = PauseNotice.newest(of: bodies) else { return }
            let previous = notice.withLock { current -> PauseNotice? in
                defer { current = newest }
                return current
            }
            if previous != newest {
                if newest.isActive() {
                    logger.notice("healing paused: engines observe and log, and act on nothing", metadata: ["pause": "\(newest.summary)"])
                } else if previous?.isActive() == true {
                    logger.notice("healing resumed", metadata: ["by": "\(newest.by)"])
                }
            }
        }
    }

    private let latest: Latest
    private let pauseFile: String?
    private let watcher: AMQPQueueWatcher

    public init(settings: AMQPSettings, topology: AMQPTopology, pauseFile: String?, interval: Duration = .seconds(2), logger: Logger) {
        let latest = Latest(logger: logger)
        self.latest = latest
        self.pauseFile = pauseFile
        watcher = AMQPQueueWatcher(
            settings: settings, topology: topology, queue: Topology.pauseQueue, interval: interval, logger: logger
        ) { bodies in latest.update(bodies) }
    }

    public func pauseReason() async -> String? {
        if let pauseFile, FileManager.default.fileExists(atPath: pauseFile) {
            let text = (try? String(contentsOfFile: pauseFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            return "pause_file \(pauseFile) exists\(text.isEmpty ? "" : ": \(text.prefix(200))")"
        }
        guard let notice = latest.notice.withLock({ $0 }), notice.isActive() else { return nil }
        return notice.summary
    }

    /// The newest notice read so far (for status and tests).
    public var currentNotice: PauseNotice? { latest.notice.withLock { $0 } }

    public func stop() { watcher.stop() }
}
