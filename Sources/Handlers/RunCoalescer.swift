import Locking

/// One run at a time of a check that covers the whole cloud (`allocation_heal`), and one run
/// for a burst of requests: a request that arrives while a run is in flight waits for the
/// next run that starts after it arrived, and every request that arrived before that run
/// started is covered by it — it returns without running `nova-manage` again. Ten requests
/// queued while the engine was down cost two runs, not ten.
final class RunCoalescer: Sendable {
    enum Turn: Equatable {
        /// The caller runs now and must call ``RunCoalescer/leave()`` when done.
        case run
        /// A run that started after the call began has finished.
        case covered
        /// The task was cancelled while it waited: neither.
        case cancelled
    }

    private struct Runs {
        var running = false
        /// Runs started and finished so far.
        var started = 0
        var finished = 0
    }

    private let runs = AsyncCondition(Runs())

    func enter() async -> Turn {
        // A run numbered `needed` or later starts after this request arrived.
        let needed = runs.value.started + 1
        return await runs.wait { runs -> Turn? in
            if runs.finished >= needed { return .covered }
            guard !runs.running else { return nil }
            runs.running = true
            runs.started += 1
            return .run
        } ?? .cancelled
    }

    func leave() {
        runs.update { runs in
            runs.running = false
            runs.finished = runs.started
        }
    }

    /// Tasks waiting now.
    var waiting: Int { runs.waiting }
}
