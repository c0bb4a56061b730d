import Locking

/// What `/healthz` reports about the long-running loops of one daemon: each loop says when
/// it starts and ends, with a probe of the broker connection it depends on.
///
/// Healthy means: at least one loop registered, every registered loop still running, and
/// every broker probe true. ``problems`` names what is wrong otherwise.
public final class ServiceHealth: Sendable {
    private struct Loop {
        var running: Bool
        var brokerConnected: @Sendable () -> Bool
    }

    private let loops = Locked<[String: Loop]>([:])

    public init() {}

    /// Records that the loop `name` runs; `brokerConnected` is asked on every health check.
    public func loopStarted(_ name: String, brokerConnected: @escaping @Sendable () -> Bool) {
        loops.withLock { $0[name] = Loop(running: true, brokerConnected: brokerConnected) }
    }

    /// Records that the loop `name` returned; the daemon is unhealthy from then on.
    public func loopEnded(_ name: String) {
        loops.withLock { $0[name]?.running = false }
    }

    /// Empty when healthy; otherwise one line per problem.
    public var problems: [String] {
        let snapshot = loops.withLock { $0 }
        if snapshot.isEmpty { return ["no loop has started yet"] }
        var found: [String] = []
        for (name, loop) in snapshot.sorted(by: { $0.key < $1.key }) {
            if !loop.running {
                found.append("\(name): loop stopped")
            } else if !loop.brokerConnected() {
                found.append("\(name): broker connection down")
            }
        }
        return found
    }

    /// Whether every running loop's broker connection is up (false before any loop started).
    public var brokerConnected: Bool {
        let snapshot = loops.withLock { $0 }
        return !snapshot.isEmpty && snapshot.values.allSatisfy { !$0.running || $0.brokerConnected() }
    }

}
