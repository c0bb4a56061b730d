import AutoHealCore
import AutoHealTestSupport
import DockerAPI
import Foundation
import HTTP
import Locking
import Testing

/// The HTTP client's one transfer thread (curl's socket interface on epoll) against the real
/// Docker engine: many long-lived streams, streams ended early, and short requests opening
/// and closing connections beside them, all at once.
@Suite("HTTP client on the real Docker engine", .timeLimit(.minutes(2)))
struct HTTPClientTests {
    @Test func streamsAndShortRequestsShareTheTransferThread() async throws {
        try await TestEnvironment.requireDocker()
        // Its own client, few requests in curl at once: most short requests wait their turn.
        let http = HTTPClient(name: "test-http-many", maxConcurrentRequests: 4)
        defer { http.shutdown() }
        let name = TestEnvironment.uniqueName("http-many")
        let container = try TestContainer(name: name, healthCheck: false)
        defer { container.remove() }
        let docker = DockerClient(
            host: "local", address: .tcp(host: "127.0.0.1", port: 2375), http: http, timeout: .seconds(20), maxInFlight: 64)

        // Docker replays from `since`: the kill below is seen whenever each stream opened.
        let since = DockerTimestamp(nanosecondsSinceEpoch: Int64((Date().timeIntervalSince1970 - 1) * 1e9))
        let streams = 30
        let sawDie = Locked(Set<Int>())
        var readers: [Task<Void, any Error>] = []
        for index in 0..<streams {
            let events = try await docker.events(containers: [name], actions: ["die"], since: since)
            readers.append(
                Task {
                    for try await item in events {
                        if case .event(let event) = item, event.action == "die", event.containerName == name {
                            sawDie.withLock { _ = $0.insert(index) }
                        }
                    }
                })
        }
        // A third of the streams ended before anything happens: their connections close
        // while the others stay open, and no event may reach them.
        let ended = Set(stride(from: 0, to: streams, by: 3))
        for index in ended { readers[index].cancel() }

        // Short requests beside the streams: connections opened, reused and closed while
        // the streams' sockets stay watched.
        let versions = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<60 { group.addTask { try await docker.version().apiVersion } }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(versions.count == 60)
        #expect(Set(versions).count == 1, "\(Set(versions))")

        try container.kill()
        let open = Set(0..<streams).subtracting(ended)
        try await waitUntil("the die event in each of the \(open.count) open streams", timeout: .seconds(30)) {
            sawDie.withLock { $0.isSuperset(of: open) }
        }
        #expect(sawDie.withLock { $0.isDisjoint(with: ended) }, "\(sawDie.withLock { $0.intersection(ended) })")
        for reader in readers { reader.cancel() }

        // And the thread still serves a request after all that.
        #expect(try await docker.version().apiVersion == versions.first)
    }
}

/// Only http and https: a URL from outside the config (Keystone's catalog) cannot make the
/// client read a file or speak another protocol libcurl knows.
@Suite("HTTP client protocols")
struct HTTPClientProtocolTests {
    @Test(arguments: ["file:///etc/hostname", "ldap://127.0.0.1/dc=example", "rtmp://127.0.0.1/live", "gopher://127.0.0.1/"])
    func otherSchemesAreRefusedNamingTheURL(url: String) async throws {
        do {
            let response = try await TestEnvironment.http.execute(HTTPRequest(url: url, timeout: .seconds(5)))
            Issue.record("\(url) answered \(response.status) with \(response.body.count) bytes")
        } catch {
            #expect("\(error)".contains("not supported") && "\(error)".contains(url), "\(error)")
        }
    }
}
