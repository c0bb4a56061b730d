import AutoHealCore
import Handlers
import Logging

/// Stands in for a payload whose handler this build does not have: it says so in the
/// log at WARNING and does nothing, so the request is acked rather than redelivered forever.
public struct UnavailableHandler: PayloadHandler {
    let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    public func handle(_ request: Envelope) async -> HandlerOutcome {
        logger.warning("this engine has no handler for the payload yet; request acknowledged without action",
                       metadata: ["payload": "\(request.payload.rawValue)", "scope": "\(request.scope.rawValue)", "request": "\(request.id)"])
        return HandlerOutcome(skipped: 1)
    }
}
