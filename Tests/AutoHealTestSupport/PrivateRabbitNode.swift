import Foundation

/// A RabbitMQ node of the test's own (scripts/private-rabbit.sh), which the test may stop
/// and restart without disturbing the shared broker. Guest/guest on 127.0.0.1:`port`.
public final class PrivateRabbitNode: Sendable {
    public let name: String
    public let port: Int

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/private-rabbit.sh").path
    }

    /// The AMQPS listener, when the node has one.
    public let tls: (port: Int, certificates: TestCertificates)?

    /// Starts a fresh node (any data of an earlier node of that name is deleted first).
    /// - Parameter tls: also listen for AMQP over TLS on 127.0.0.1:`port` with these certificates.
    public init(name: String, port: Int, tls: (port: Int, certificates: TestCertificates)? = nil) throws {
        self.name = name
        self.port = port
        self.tls = tls
        try Self.run(["destroy", name])
        try start()
    }

    public func start() throws {
        var environment: [String] = []
        if let tls { environment = ["TLS_DIR=\(tls.certificates.directory)", "TLS_PORT=\(tls.port)"] }
        try Self.run(["start", name, String(port)], environment: environment)
    }
    public func stop() throws { try Self.run(["stop", name]) }
    public func destroy() { try? Self.run(["destroy", name]) }

    static func run(_ arguments: [String], environment: [String] = []) throws {
        let (exitCode, output) = try spawnAndWait(["/usr/bin/env"] + environment + ["/bin/bash", script] + arguments)
        guard exitCode == 0 else {
            throw TestSetupError(
                "private-rabbit.sh \(arguments.joined(separator: " ")) failed: \(output) (is rabbitmq-server installed? run `\(TestEnvironment.setupCommand)`)"
            )
        }
    }
}

/// Runs a program to its exit and returns its exit code and output (stdout and stderr).
///
/// Output goes through a file, not a pipe, and the child is reaped with waitpid: a program
/// that leaves a daemon behind (rabbitmq-server, qemu-nbd --fork) must not keep the caller
/// waiting on a pipe, and Foundation's Process does not always notice such a child's exit.
public func spawnAndWait(_ argv: [String]) throws -> (exitCode: Int32, output: String) {
    let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent(TestEnvironment.uniqueName("spawn") + ".out").path
    defer { try? FileManager.default.removeItem(atPath: outputPath) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var cArgs = argv.map { strdup($0) } + [nil]
    defer { cArgs.forEach { free($0) } }
    // Threads of the test process block some signals; a daemon started from here would
    // inherit that mask and ignore SIGTERM. Start the child with no signal blocked.
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attributes, &empty)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE] { sigaddset(&defaults, signal) }
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var pid: pid_t = 0
    guard posix_spawnp(&pid, argv[0], &actions, &attributes, &cArgs, environ) == 0 else {
        throw TestSetupError("cannot run \(argv[0])")
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let exitCode = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return (exitCode, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
}
