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
/// The broker copy is fed in by ``BrokerStateWatch`` (``update(_:)``), so every engine sees a
/// pause given from the deploy server, and it survives engine restarts. If the broker is
/// unreachable the last notice read stays in force.
public final class PauseWatch: HealingGate, Sendable {
    /// The newest notices read from the broker, shared with the watcher's thread.
    final class Latest: Sendable {
        let notices = Mutex<[TargetKey?: PauseNotice]>([:])
        let releases = Mutex<[TargetKey: Date]>([:])
        /// Set after the first successful read of the broker's pause queue.
        let initialized = Mutex(false)
        let logger: Logger
        init(logger: Logger) { self.logger = logger }

        /// Keeps the newest notice per target; an empty read (another engine holds the
        /// messages for a moment) changes nothing.
        func update(_ bodies: [[UInt8]]) {
            defer { initialized.withLock { $0 = true } }
            let released = PauseNotice.releases(bodies)
            releases.withLock { current in current.merge(released) { max($0, $1) } }
            let read = PauseNotice.newestPerTarget(bodies)
            guard !read.isEmpty else { return }
            let previous = notices.withLock { current -> [TargetKey?: PauseNotice] in
                defer { current.merge(read) { old, new in old.at < new.at ? new : old } }
                return current
            }
            for (target, newest) in read where previous[target] != newest {
                if newest.isActive() {
                    logger.notice(target == nil ? "healing paused: engines observe and log, and act on nothing" : "target excluded from healing",
                                  metadata: ["pause": "\(newest.summary)"])
                } else if previous[target]?.isActive() == true {
                    logger.notice(target == nil ? "healing resumed" : "target included again", metadata: ["by": "\(newest.by)", "target": "\(target.map { "\($0)" } ?? "all")"])
                }
            }
        }
    }

    private let latest: Latest
    private let pauseFile: String?

    public init(pauseFile: String?, logger: Logger) {
        latest = Latest(logger: logger)
        self.pauseFile = pauseFile
    }

    /// Takes the bodies just read from the broker's pause queue.
    public func update(_ bodies: [[UInt8]]) { latest.update(bodies) }

    public func pauseReason(for target: TargetKey?) async -> String? {
        // Until the broker's pause state has been read once, act on nothing: an engine that
        // starts during a maintenance pause must not heal in the seconds before it knows.
        let deadline = ContinuousClock.now + .seconds(10)
        while !latest.initialized.withLock({ $0 }) {
            if ContinuousClock.now >= deadline { return "pause state not read from the broker yet" }
            try? await Task.sleep(for: .milliseconds(50))
        }
        if let pauseFile, FileManager.default.fileExists(atPath: pauseFile) {
            let text = (try? String(contentsOfFile: pauseFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            return "pause_file \(pauseFile) exists\(text.isEmpty ? "" : ": \(text.prefix(200))")"
        }
        let notices = latest.notices.withLock { $0 }
        if let all = notices[nil], all.isActive() { return all.summary }
        if let target, let excluded = notices[target], excluded.isActive() { return excluded.summary }
        return nil
    }

    public func releasedAt(_ target: TargetKey) async -> Date? { latest.releases.withLock { $0[target] } }

}
