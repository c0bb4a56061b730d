import AutoHealCore
import Locking

/// Which targets requests are working on, so two requests (a sweep and a targeted one, or
/// two sweeps) never look at and act on one target at once. A sweep leaves a claimed target
/// to the request that has it; a targeted request waits and looks again afterwards, since
/// the other may have looked before the fault.
final class TargetClaims: Sendable {
    private let inFlight = AsyncCondition(Set<TargetKey>())

    /// Takes the target; false if another request has it.
    func claim(_ target: TargetKey) -> Bool {
        inFlight.update { $0.insert(target).inserted }
    }

    /// Takes the target, waiting while another request has it; false (not taken) if the
    /// task was cancelled first.
    func claimWhenFree(_ target: TargetKey) async -> Bool {
        await inFlight.wait { $0.insert(target).inserted ? () : nil } != nil
    }

    func release(_ target: TargetKey) {
        inFlight.update { _ = $0.remove(target) }
    }

    /// Tasks waiting now.
    var waiting: Int { inFlight.waiting }
}
