import AutoHealCore
import Foundation
import Testing

@Suite("Config: [nova], [host_failure], named hosts")
struct HostFailureConfigTests {
    static func parse(_ text: String, environment: [String: String] = [:]) throws -> AutoHealConfig {
        try AutoHealConfig.parse(text, path: "t.conf", environment: environment)
    }

    @Test func withoutNovaTheCheckIsOffAndAskingForItIsAnError() throws {
        #expect(try Self.parse("[hosts]\ncompute_hosts = 10.0.0.21\n").schedule[.computeHostFailure] == 0)
        #expect(throws: ConfigError.self) { try Self.parse("[schedule]\ncompute_host_failure = 30\n") }
        let on = try Self.parse("[nova]\nendpoint = http://127.0.0.1:8774/v2.1\n")
        #expect(on.schedule[.computeHostFailure] == 30)
        #expect(on.nova?.auth == .token("admin"))
    }

    @Test func aKeystoneLoginIsReadAndItsPasswordNeverShown() throws {
        let config = try Self.parse(
            """
            [nova]
            auth = password
            auth_url = https://keystone.example:5000/v3
            username = autoheal
            password = s3cret
            project_name = service
            region_name = RegionTwo
            interface = public
            [rabbitmq]
            allow_insecure_config = true
            """)
        guard case .password(let k)? = config.nova?.auth else {
            Issue.record("not a password login")
            return
        }
        #expect(k.username == "autoheal" && k.password == "s3cret" && k.projectName == "service")
        #expect(k.userDomainName == "Default" && k.regionName == "RegionTwo" && k.interface == "public")
        #expect(!config.renderedForDisplay().contains("s3cret"))
        let fromEnvironment = try Self.parse(
            "[nova]\nauth_url = https://k/v3\n", environment: [AutoHealConfig.novaPasswordEnvironmentVariable: "from-env"])
        if case .password(let k)? = fromEnvironment.nova?.auth { #expect(k.password == "from-env") } else { Issue.record("no login") }
    }

    @Test(arguments: [
        "[nova]\nauth = token\n", "[nova]\nauth = kerberos\nendpoint = http://x/v2.1\n", "[nova]\nendpoint = ftp://x\n",
        "[nova]\nauth_url = https://k/v3\ninterface = private\n", "[host_failure]\nfence = /no/such/ipmitool {host}\n",
        "[host_failure]\nfence = ipmitool 'unclosed\n", "[host_failure]\nopt_out_metadata = nokey\n",
        "[hosts]\ncompute_hosts = =10.0.0.1\n", "[hosts]\ncompute_hosts = a=10.0.0.1, a=10.0.0.2\n",
    ])
    func badValuesNameTheirKey(text: String) {
        #expect(throws: ConfigError.self) { try Self.parse(text) }
    }

    @Test func hostsCanCarryNovasName() throws {
        let config = try Self.parse("[hosts]\ncompute_hosts = compute-1=10.0.1.21, 10.0.1.22, compute-3=unix:///run/docker.sock\n")
        #expect(config.hosts.compute.map(\.name) == ["compute-1", "10.0.1.22", "compute-3"])
        #expect(config.hosts.compute[0].docker == .tcp(host: "10.0.1.21", port: 2375))
        #expect(config.hosts.compute[2].docker == .unix(path: "/run/docker.sock"))
    }

    @Test func theFenceIsAnExplicitChoiceAndThePartitionLimitTheSmallerOfTwo() throws {
        #expect(try Self.parse("").hostFailure.fence == nil)
        #expect(try Self.parse("[host_failure]\nfence = none\n").hostFailure.fence == AutoHealConfig.HostFailure.Fence.none)
        let ipmi = try Self.parse("[host_failure]\nfence = ipmitool -I lanplus -H '{host}-ipmi' -P \"pass word\" chassis power off\n")
        #expect(
            ipmi.hostFailure.fence
                == .command(["ipmitool", "-I", "lanplus", "-H", "{host}-ipmi", "-P", "pass word", "chassis", "power", "off"]))
        let limits = try Self.parse("[host_failure]\nmax_hosts_down = 3\nmax_hosts_down_percent = 25\n").hostFailure
        #expect(limits.limit(hosts: 20) == 3 && limits.limit(hosts: 8) == 2 && limits.limit(hosts: 2) == 0)
        #expect(try Self.parse("").hostFailure.hostDownAfterSeconds == 180)
    }

    @Test func shellWordsSplitLikeAShellForTheSimpleCases() {
        #expect(ShellWords.split("a b  c") == ["a", "b", "c"])
        #expect(ShellWords.split("a 'b c' \"d e\" f\\ g") == ["a", "b c", "d e", "f g"])
        #expect(ShellWords.split("'' x") == ["", "x"])
        #expect(ShellWords.split("\"a \\\" b\"") == ["a \" b"])
        #expect(ShellWords.split("'open") == nil)
        #expect(ShellWords.split("trailing\\") == nil)
    }
}
