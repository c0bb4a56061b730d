import AutoHealCore
import DequeModule
import FoundationEssentials
import Logging

/// Publishes persistent messages with publisher confirms, on its own thread and connection.
///
/// ``publish(_:timeout:)`` returns only once the broker confirmed the message (basic.ack
/// for a message that reached a queue). Up to ``window`` messages are in flight at once on
/// the one channel, each completed by its own confirm (a `multiple` ack completes every
/// earlier one; a returned message is known by its message id, which the publisher sets when
/// the caller did not). A message the broker nacks, returns as unroutable, or loses with the
/// connection is retried on a fresh connection (which re-declares the topology) until its
/// deadline; meanwhile the publisher reconnects with capped, jittered exponential back-off,
/// trying the configured brokers in turn. Nothing is reported published that the broker did
/// not confirm; a message sent again after a lost confirm may reach the queue twice (the
/// engine drops the second by request id).
///
/// While the broker is away, messages wait in a backlog of at most `maxBacklog`; when it is
/// full the oldest waiting message is dropped (its `publish` fails with `.dropped`) and
/// counted in ``droppedCount``.
public final class AMQPPublisher: @unchecked Sendable {
    /// A class: a job moves between the queue, the batch being sent and the settled list,
    /// and copying the message each time was a tenth of the publisher's CPU. Its fields
    /// change only under `condition` (`message` only before it is queued).
    private final class Job {
        var id: UInt64
        var message: AMQPMessage
        let deadline: ContinuousClock.Instant
        let continuation: CheckedContinuation<Result<Void, AMQPError>, Never>
        var lastError: AMQPError?
        /// The last error the broker stated with a reply code (a 406 on a queue declared with
        /// other arguments, a 403 login): kept when a transport error follows it, so the
        /// operator's "gave up" names the cause that needs a person, not the last timeout.
        var lastRefusal: AMQPError?

        init(message: AMQPMessage, deadline: ContinuousClock.Instant, continuation: CheckedContinuation<Result<Void, AMQPError>, Never>) {
            self.id = 0
            self.message = message
            self.deadline = deadline
            self.continuation = continuation
        }
    }

    private let settings: AMQPSettings
    private let topology: AMQPTopology
    private let logger: Logger
    /// Guards the jobs and `stopping`; signalled when either changes.
    private let condition = ThreadCondition()
    /// Every message not completed yet, by job id (ids grow with each publish): waiting or
    /// in flight. A dictionary and a queue of ids, not one array: at 1,024 in flight,
    /// settling each confirm by searching and shifting an array was a tenth of the
    /// publisher's CPU.
    private var jobs: [UInt64: Job] = [:]
    /// Ids of the jobs waiting to be sent, oldest first.
    private var waiting: Deque<UInt64> = []
    private var stopping = false
    private var lastJobID: UInt64 = 0
    /// Jobs taken to be sent and not yet confirmed; never dropped from the backlog. When the
    /// connection goes, they go back to the head of `waiting`.
    private var inFlightIDs: Set<UInt64> = []
    /// Messages in flight at most, unconfirmed, on the channel.
    public static let window = 1024
    private var dropped = 0
    private let maxBacklog: Int
    private let connected = Locked(false)
    /// Set when the thread has stopped and closed the connection.
    private let finished = AsyncFlag()

    public init(settings: AMQPSettings, topology: AMQPTopology, maxBacklog: Int = 1000, logger: Logger) {
        self.maxBacklog = max(maxBacklog, 1)
        self.settings = settings
        self.topology = topology
        self.logger = logger
        OSThread.start(name: "amqp-publisher") { [self] in run() }
    }

    /// Whether the publisher holds a live connection right now.
    public var isConnected: Bool { connected.withLock { $0 } }

    /// Messages dropped so far because the backlog was full.
    public var droppedCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return dropped
    }

    /// Publishes and waits for the broker's confirm, retrying until `timeout` passes.
    public func publish(_ message: AMQPMessage, timeout: Duration = .seconds(30)) async throws(AMQPError) {
        let deadline = ContinuousClock.now + timeout
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Void, AMQPError>, Never>) in
            if !enqueue(Job(message: message, deadline: deadline, continuation: continuation)) {
                continuation.resume(returning: .failure(AMQPError(.shutdown, "publisher is shut down")))
            }
        }
        try result.get()
    }

    /// Stops the thread, failing messages not yet confirmed, and closes the connection.
    public func shutdown() async {
        requestStop()
        // Not cancellable: the thread fails what is left and closes the connection soon after
        // the stop request, and the caller may free what the thread still uses.
        _ = await Task { await finished.wait() }.value
    }

    private func enqueue(_ job: Job) -> Bool {
        var victim: Job? = nil
        condition.lock()
        guard !stopping else {
            condition.unlock()
            return false
        }
        lastJobID += 1
        job.id = lastJobID
        // A returned message is matched to its job by message id.
        if job.message.messageID == nil { job.message.messageID = "autoheal-publish-\(lastJobID)" }
        if jobs.count >= maxBacklog, let oldest = waiting.popFirst() {
            victim = jobs.removeValue(forKey: oldest)
            dropped += 1
        }
        jobs[job.id] = job
        waiting.append(job.id)
        let droppedSoFar = dropped
        condition.signal()
        condition.unlock()
        if let victim {
            logger.warning(
                "publish backlog full: dropped the oldest waiting message",
                metadata: ["exchange": "\(victim.message.exchange)", "backlog": "\(maxBacklog)", "dropped_total": "\(droppedSoFar)"])
            victim.continuation.resume(
                returning: .failure(AMQPError(.dropped, "dropped from a full publish backlog (\(maxBacklog) waiting)")))
        }
        return true
    }

    private func requestStop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    // MARK: - The publisher thread

    private func run() {
        var connection: AMQPConnection? = nil
        var backoff = ReconnectBackoff()
        var nextAttempt = ContinuousClock.now
        var serverIndex = 0
        /// Sent and unconfirmed on this connection, by ascending delivery tag.
        var inFlight: Deque<(tag: UInt64, id: UInt64)> = []
        /// Deadlines are looked at every 10 ms, not at each turn of the loop (a walk over
        /// every job).
        var nextDeadlineCheck = ContinuousClock.now
        /// Message ids the broker returned as unroutable; their acks follow.
        var returned: Set<String> = []

        func drop(_ error: AMQPError) {
            connection?.close()
            connection = nil
            connected.withLock { $0 = false }
            // Whatever was in flight is sent again on the next connection, first.
            inFlight.removeAll()
            returned.removeAll()
            condition.lock()
            waiting.insert(contentsOf: inFlightIDs.sorted().filter { jobs[$0] != nil }, at: waiting.startIndex)
            inFlightIDs.removeAll()
            condition.unlock()
            let delay = backoff.next()
            nextAttempt = .now + delay
            logger.warning("broker connection lost; reconnecting", metadata: ["error": "\(error)", "retry_in": "\(delay)"])
        }

        /// Connects to the next broker; false (with the back-off set) when that fails. The
        /// attempt blocks this thread, so with messages waiting it ends by the earliest one's
        /// deadline (at least 200 ms): a publish given 3 s does not wait out a connect and a
        /// handshake of `connectTimeout` each on a broker that is slow to refuse it.
        func connect() -> Bool {
            let server = settings.servers[serverIndex % settings.servers.count]
            serverIndex += 1
            var settings = settings
            condition.lock()
            let earliest = jobs.values.lazy.map(\.deadline).min()
            condition.unlock()
            if let earliest {
                settings.connectTimeout = max(min(settings.connectTimeout, earliest - .now), .milliseconds(200))
            }
            do {
                let c = try AMQPConnection(settings: settings, server: server, topology: topology)
                try c.enableConfirms()
                connection = c
                connected.withLock { $0 = true }
                backoff.reset()
                logger.info("connected to broker", metadata: ["broker": "\(server)", "vhost": "\(settings.vhost)"])
                return true
            } catch {
                setLastError(error)
                let delay = backoff.next()
                nextAttempt = .now + delay
                logger.warning("cannot connect to broker", metadata: ["broker": "\(server)", "error": "\(error)", "retry_in": "\(delay)"])
                return false
            }
        }

        while true {
            condition.lock()
            if jobs.isEmpty && !stopping { condition.wait(seconds: 1) }
            let now = ContinuousClock.now
            var expired: [Job] = []
            var overdue = false
            if now >= nextDeadlineCheck {
                nextDeadlineCheck = now + .milliseconds(10)
                for (id, job) in jobs where job.deadline <= now {
                    // One in flight waits for its confirm (or its connection's end) first.
                    if inFlightIDs.contains(id) { overdue = true } else { expired.append(job) }
                }
                if !expired.isEmpty {
                    expired.sort { $0.id < $1.id }
                    for job in expired { jobs[job.id] = nil }
                    waiting.removeAll { jobs[$0] == nil }
                }
            }
            let stop = stopping
            // Taken in flight now, only with a connection to send them on; if it goes before
            // they are sent, drop() puts them back.
            let hasWaiting = !waiting.isEmpty
            var toSend: [Job] = []
            while connection != nil, inFlightIDs.count < Self.window, let id = waiting.popFirst() {
                guard let job = jobs[id] else { continue }
                toSend.append(job)
                inFlightIDs.insert(id)
            }
            condition.unlock()

            for job in expired {
                let error = job.lastError ?? AMQPError(.timedOut, "no broker confirmed the message in time")
                var text = "gave up publishing to \(job.message.exchange): \(error)"
                if let refusal = job.lastRefusal, refusal.description != error.description {
                    text += "; before that the broker refused it: \(refusal)"
                }
                job.continuation.resume(returning: .failure(AMQPError(.timedOut, text)))
            }
            if stop {
                condition.lock()
                let left = jobs.values.sorted { $0.id < $1.id }
                jobs.removeAll()
                waiting.removeAll()
                inFlightIDs.removeAll()
                condition.unlock()
                for job in left { job.continuation.resume(returning: .failure(AMQPError(.shutdown, "publisher shut down"))) }
                connection?.close()
                connected.withLock { $0 = false }
                finished.set()
                return
            }

            guard !toSend.isEmpty || !inFlight.isEmpty || (connection == nil && hasWaiting) else {
                // Idle: keep the connection up (and report it in isConnected), so the
                // first request after a quiet hour does not wait for a reconnect.
                if let c = connection {
                    do { try c.idle() } catch { drop(error) }
                } else if nextAttempt <= .now {
                    _ = connect()
                }
                continue
            }

            if connection == nil {
                let wait = nextAttempt - .now
                if wait > .zero {
                    condition.lock()
                    if !stopping { condition.wait(seconds: min(wait.timeInterval, 0.5)) }
                    condition.unlock()
                    continue
                }
                guard connect() else { continue }
            }

            do throws(AMQPError) {
                if overdue { throw AMQPError(.timedOut, "no confirm from the broker before a message's deadline") }
                for job in toSend {
                    let tag = try connection!.publishMandatory(job.message)
                    inFlight.append((tag, job.id))
                }
                try connection!.flushPublishes()
                // Collect what has been confirmed; wait a little only when there is nothing to send.
                var wait: Duration = toSend.isEmpty ? .milliseconds(50) : .zero
                while !inFlight.isEmpty, let event = try connection!.nextPublisherEvent(timeout: wait) {
                    wait = .zero
                    switch event {
                    case .returned(let id, _): returned.insert(id)
                    case .ack(let tag, let multiple), .nack(let tag, let multiple):
                        // Tags ascend: a multiple ack settles a prefix.
                        var settled: [(tag: UInt64, id: UInt64)] = []
                        if multiple {
                            while let first = inFlight.first, first.tag <= tag { settled.append(inFlight.removeFirst()) }
                        } else if let index = inFlight.firstIndex(where: { $0.tag == tag }) {
                            settled.append(inFlight.remove(at: index))
                        }
                        if case .nack = event {
                            throw AMQPError(.nacked, "\(connection!.server): broker refused \(settled.count) message(s)")
                        }
                        try settle(settled.map(\.id), returned: &returned, on: connection!)
                    }
                }
            } catch {
                setLastError(error)
                drop(error)
            }
        }
    }

    /// Completes confirmed jobs; a returned one stays for the next connection (which declares
    /// the topology again) and ends the connection with the reason.
    private func settle(_ ids: [UInt64], returned: inout Set<String>, on connection: AMQPConnection) throws(AMQPError) {
        var done: [Job] = []
        var unroutable: Job? = nil
        condition.lock()
        for id in ids {
            guard let job = jobs[id] else {
                inFlightIDs.remove(id)
                continue
            }
            if let messageID = job.message.messageID, returned.remove(messageID) != nil {
                // Stays in flight until the throw below ends the connection: drop() then
                // puts it back at the head of the queue.
                unroutable = job
            } else {
                inFlightIDs.remove(id)
                jobs[id] = nil
                done.append(job)
            }
        }
        condition.unlock()
        for job in done { job.continuation.resume(returning: .success(())) }
        if let unroutable {
            throw AMQPError(
                .unroutable,
                "\(connection.server): no queue bound to exchange \(unroutable.message.exchange) with routing key "
                    + "\(unroutable.message.routingKey)")
        }
    }

    /// Remembers why the messages in flight (or, before any was sent, the first) failed.
    private func setLastError(_ error: AMQPError) {
        condition.lock()
        let ids = inFlightIDs.isEmpty ? Array(waiting.prefix(1)) : Array(inFlightIDs)
        for id in ids {
            guard let job = jobs[id] else { continue }
            job.lastError = error
            if error.code > 0 { job.lastRefusal = error }
        }
        condition.unlock()
    }
}
