import AutoHealCore
import AutoHealTestSupport
import Foundation
import NovaAPI
import Policy
import Testing

@Suite("Keystone login and the fence command")
struct NovaAndFenceTests {
    static let keystone = AutoHealConfig.Nova.Keystone(
        authURL: "https://keystone:5000", username: "autoheal", password: "pw", userDomainName: "Default", projectName: "admin",
        projectDomainName: "Default", regionName: "RegionTwo", interface: "internal")

    @Test func theLoginAsksForAProjectScopedTokenAndFindsTheComputeEndpoint() throws {
        #expect(KeystoneLogin.tokensURL("https://keystone:5000") == "https://keystone:5000/v3/auth/tokens")
        #expect(KeystoneLogin.tokensURL("https://keystone:5000/v3/") == "https://keystone:5000/v3/auth/tokens")
        let body = KeystoneLogin.body(Self.keystone).encoded
        let text = String(decoding: body, as: UTF8.self)
        #expect(text.contains("\"methods\":[\"password\"]") && text.contains("\"project\":{") && text.contains("\"name\":\"autoheal\""))
        let answer = """
            {"token": {"expires_at": "2026-12-01T10:00:00.000000Z", "catalog": [
              {"type": "identity", "endpoints": [{"interface": "internal", "region": "RegionTwo", "url": "https://keystone:5000"}]},
              {"type": "compute", "endpoints": [
                {"interface": "public", "region": "RegionTwo", "url": "https://nova.public/v2.1"},
                {"interface": "internal", "region": "RegionOne", "url": "https://nova.one/v2.1"},
                {"interface": "internal", "region_id": "RegionTwo", "url": "https://nova.two/v2.1"}]}]}}
            """
        let parsed = try KeystoneLogin.parse(Array(answer.utf8), keystone: Self.keystone)
        #expect(parsed.endpoint == "https://nova.two/v2.1")
        #expect(parsed.expiresAt == Envelope.parseDate("2026-12-01T10:00:00Z"))
        #expect(throws: NovaError.self) { try KeystoneLogin.parse(Array("{\"error\": 1}".utf8), keystone: Self.keystone) }
    }

    @Test func aKeystoneTokenIsCachedRenewedOnA401AndAWrongPasswordIsAClearError() async throws {
        let keystone = try await FakeKeystone()
        func client(_ password: String) -> NovaClient {
            let login = AutoHealConfig.Nova.Keystone(
                authURL: keystone.authURL, username: "autoheal", password: password, userDomainName: "Default", projectName: "admin",
                projectDomainName: "Default", regionName: "RegionOne", interface: "internal")
            return NovaClient(
                settings: AutoHealConfig.Nova(auth: .password(login), endpoint: nil, caFile: nil, timeoutSeconds: 5),
                http: TestEnvironment.http)
        }
        let nova = client("right")
        #expect(try await nova.services(binary: "nova-compute").map(\.host) == ["compute-1"])
        #expect(try await nova.services(binary: "nova-compute").count == 1)
        #expect(keystone.logins == 1)  // the token is kept between calls
        keystone.revokeTokens()
        #expect(try await nova.services(binary: "nova-compute").count == 1)
        #expect(keystone.logins == 2)  // a 401 logs in again, once, and the call goes through
        do {
            _ = try await client("wrong").services(binary: "nova-compute")
            Issue.record("a wrong password was accepted")
        } catch {
            #expect("\(error)".contains("Keystone: login as autoheal answered 401"), "\(error)")
        }
    }

    @Test func aCatalogEndpointThatIsNotHTTPIsAClearErrorAndNeverFetched() async throws {
        let keystone = try await FakeKeystone(computeURL: "file:///etc/hostname")
        let login = AutoHealConfig.Nova.Keystone(
            authURL: keystone.authURL, username: "autoheal", password: "right", userDomainName: "Default", projectName: "admin",
            projectDomainName: "Default", regionName: "RegionOne", interface: "internal")
        let nova = NovaClient(
            settings: AutoHealConfig.Nova(auth: .password(login), endpoint: nil, caFile: nil, timeoutSeconds: 5),
            http: TestEnvironment.http)
        do {
            let services = try await nova.services(binary: "nova-compute")
            Issue.record("a file:// endpoint answered \(services)")
        } catch {
            #expect(
                "\(error)".contains("the catalog's compute endpoint \"file:///etc/hostname\" is not an http:// or https:// URL"),
                "\(error)")
        }
        #expect(keystone.logins == 1)
    }

    @Test func theFenceCommandGetsTheHostAndMustExitZeroInTime() async throws {
        #expect(
            ProcessFenceRunner.command(["ipmitool", "-H", "{host}-bmc", "power", "off"], host: "c1") == [
                "ipmitool", "-H", "c1-bmc", "power", "off",
            ])
        #expect(ProcessFenceRunner.command(["/usr/local/bin/fence"], host: "c1") == ["/usr/local/bin/fence", "c1"])
        let runner = ProcessFenceRunner()
        let ok = await runner.run(["sh", "-c", "echo powered off $0", "c1"], timeout: .seconds(10))
        #expect(ok.exitCode == 0 && ok.output.contains("powered off c1") && ok.failure == nil)
        #expect(await runner.run(["false"], timeout: .seconds(10)).exitCode == 1)
        let missing = await runner.run(["no-such-fence-tool"], timeout: .seconds(10))
        #expect(missing.exitCode == nil && missing.failure?.contains("not found") == true)
        // At the deadline the command and everything it started get SIGTERM (a clean signal
        // mask: the trap runs); one that ignores SIGTERM is SIGKILLed after the grace.
        let pidFile = try TestEnvironment.temporaryDirectory("fence").appendingPathComponent("helper.pid").path
        let polite = ProcessFenceRunner(termGrace: .seconds(30))
        let hung = await polite.run(
            ["sh", "-c", "trap 'echo got TERM; exit 3' TERM; sleep 600 & echo $! > \(pidFile); wait"],
            timeout: .milliseconds(300))
        #expect(hung.exitCode == nil && hung.failure?.contains("did not finish within") == true, "\(hung)")
        #expect(hung.output.contains("got TERM"), "\(hung)")
        let helper = try #require(Int32(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        try await waitUntil("the helper the fence command left is stopped too", timeout: .seconds(10)) {
            kill(helper, 0) != 0 || (try? String(contentsOfFile: "/proc/\(helper)/stat", encoding: .utf8))?.contains(") Z ") == true
        }
        let stubborn = await ProcessFenceRunner(termGrace: .milliseconds(200)).run(
            ["sh", "-c", "trap '' TERM; echo started; sleep 600"], timeout: .milliseconds(300))
        #expect(stubborn.exitCode == nil && stubborn.output == "started\n", "\(stubborn)")
    }
}
