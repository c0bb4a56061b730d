import AutoHealCore

/// Which targets requests are working on, so two requests (a sweep and a targeted one, or
/// two sweeps) never look at and act on one target at once. A sweep leaves a claimed target
/// to the request that has it; a targeted request waits and looks again afterwards, since
/// the other may have looked before the fault.
actor TargetClaims {
    private var inFlight: Set<TargetKey> = []
    private var waiters: [TargetKey: [CheckedContinuation<Void, Never>]] = [:]

    /// Takes the target; false if another request has it.
    func claim(_ target: TargetKey) -> Bool { inFlight.insert(target).inserted }

    /// Takes the target, waiting while another request has it.
    func claimWhenFree(_ target: TargetKey) async {
        while !inFlight.insert(target).inserted {
            await withCheckedContinuation { waiters[target, default: []].append($0) }
        }
    }

    func release(_ target: TargetKey) {
        inFlight.remove(target)
        waiters.removeValue(forKey: target)?.forEach { $0.resume() }
    }
}
