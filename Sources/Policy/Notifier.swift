import AutoHealCore
import FoundationEssentials
import HTTP
import Logging

/// Tells people what the healer cannot fix by itself.
public protocol Notifier: Sendable {
    /// Sends the text without waiting for it: a slow or failing receiver never delays healing.
    func notify(_ text: String)
}

/// No notifications (no `[notify] webhook_url`).
public struct SilentNotifier: Notifier {
    public init() {}
    public func notify(_ text: String) {}
}

/// POSTs `{"text": "…"}` to a webhook (Slack, Mattermost and most chat receivers take it),
/// in the background with a 5 s deadline; a failure is a WARNING line, never an error of healing.
public struct WebhookNotifier: Notifier {
    let url: String
    let http: HTTPClient
    let logger: Logger

    public init(url: String, http: HTTPClient, logger: Logger) {
        self.url = url
        self.http = http
        self.logger = logger
    }

    public func notify(_ text: String) {
        let body = JSONValue.object(["text": .string(text)]).encoded
        let request = HTTPRequest(
            method: "POST", url: url, headers: [("Content-Type", "application/json")], body: body, timeout: .seconds(5),
            connectTimeout: .seconds(3), maxResponseBytes: 64 * 1024, urlInErrors: AutoHealConfig.maskedURL(url))
        let http = self.http, logger = self.logger
        Task.detached {
            do {
                let response = try await http.execute(request)
                if !(200..<300).contains(response.status) {
                    logger.warning("webhook answered \(response.status); notification lost", metadata: ["text": "\(text)"])
                }
            } catch {
                logger.warning("webhook unreachable; notification lost", metadata: ["error": "\(error)", "text": "\(text)"])
            }
        }
    }
}
