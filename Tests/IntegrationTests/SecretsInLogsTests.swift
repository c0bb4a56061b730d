import AutoHealCore
import AutoHealTestSupport
import Foundation
import HTTP
import Logging
import Policy
import Testing

/// A webhook URL carries a token (Slack, Mattermost): it must never reach a log line or an
/// error, whatever goes wrong with the webhook.
@Suite("Secrets stay out of logs", .ownThreads)
struct SecretsInLogsTests {
    @Test func anUnreachableWebhookIsReportedWithItsURLMasked() async throws {
        let capture = LogCapture()
        // Nothing listens on the port: curl fails with the URL in its text.
        let port = TestEnvironment.unusedPort()
        for url in ["http://127.0.0.1:\(port)/hooks/T00/s3cret-token?key=s3cret-key", "http://user:s3cret-pass@127.0.0.1:\(port)/x"] {
            let notifier = WebhookNotifier(url: url, http: TestEnvironment.http, logger: capture.logger("test.notify"))
            notifier.notify("nova_api quarantined")
        }
        try await waitUntil("both notifications to fail", timeout: .seconds(15)) {
            capture.events(.warning, containing: "webhook unreachable").count == 2
        }
        for event in capture.all {
            let text = event.message + " " + event.metadata.values.joined(separator: " ")
            #expect(!text.contains("s3cret"), "a log line shows the webhook's secret: \(text)")
            #expect(text.contains("127.0.0.1"), "the error no longer names the host: \(text)")
        }
    }

    @Test func aMalformedWebhookURLIsRefusedWithoutEchoingIt() {
        let text = "[hosts]\ncontrol_hosts = 127.0.0.1\n[notify]\nwebhook_url = hooks.example/T00/s3cret-token\n"
        #expect {
            try AutoHealConfig.parse(text, path: "c.conf")
        } throws: { error in
            let message = "\(error)"
            return message.contains("[notify] webhook_url") && message.contains("c.conf:4") && !message.contains("s3cret")
        }
        #expect(AutoHealConfig.maskedURL("https://u:p@chat.example:8443/hooks/x?t=1") == "https://********@chat.example:8443/********")
        #expect(AutoHealConfig.maskedURL("https://chat.example") == "https://chat.example")
    }
}
