/// One run at a time of a check that covers the whole cloud (`allocation_heal`), and one run
/// for a burst of requests: a request that arrives while a run is in flight waits for the
/// next run that starts after it arrived, and every request that arrived before that run
/// started is covered by it — it returns without running `nova-manage` again. Ten requests
/// queued while the engine was down cost two runs, not ten.
actor RunCoalescer {
    enum Turn: Equatable { case run, covered }

    private var running = false
    /// Runs started and finished so far.
    private var started = 0
    private var finished = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []

    /// `.run`: the caller runs now and must call ``leave()`` when done. `.covered`: a run that
    /// started after the call began has finished.
    func enter() async -> Turn {
        // A run numbered `needed` or later starts after this request arrived.
        let needed = started + 1
        while true {
            if finished >= needed { return .covered }
            if !running {
                running = true
                started += 1
                return .run
            }
            await withCheckedContinuation { waiters.append($0) }
        }
    }

    func leave() {
        running = false
        finished = started
        let woken = waiters
        waiters = []
        for waiter in woken { waiter.resume() }
    }
}
