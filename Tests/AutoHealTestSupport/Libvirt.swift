import Foundation
import Locking

/// The host's libvirtd (started by scripts/start-services.sh), for the libvirt wake-up tests.
public enum Libvirt {
    @discardableResult
    public static func virsh(_ arguments: [String]) throws -> String {
        let (code, output) = try spawnAndWait(["virsh", "-c", "qemu:///system"] + arguments)
        guard code == 0 else { throw TestSetupError("virsh \(arguments.joined(separator: " ")) failed (\(code)): \(output)") }
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Fails at once when libvirtd does not answer.
    public static func require() throws {
        guard (try? spawnAndWait(["virsh", "-c", "qemu:///system", "version"]))?.exitCode == 0 else {
            throw TestSetupError("libvirtd does not answer on qemu:///system; run `\(TestEnvironment.setupCommand)`")
        }
    }

    public static func state(_ uuid: String) throws -> String { try virsh(["domstate", "--reason", uuid]) }

    /// The XML of a tiny disk-less TCG domain, or one booting from an NBD disk on loopback.
    public static func domainXML(name: String, uuid: String, nbdPort: Int? = nil) -> String {
        var disk = ""
        if let nbdPort {
            disk = """
                <disk type='network' device='disk'>
                  <driver name='qemu' type='raw' error_policy='stop'/>
                  <source protocol='nbd'><host name='127.0.0.1' port='\(nbdPort)'/></source>
                  <target dev='vda' bus='virtio'/>
                </disk>
                """
        }
        return """
            <domain type='qemu'>
              <name>\(name)</name>
              <uuid>\(uuid)</uuid>
              <memory unit='MiB'>64</memory>
              <vcpu>1</vcpu>
              <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
              <devices><emulator>/usr/bin/qemu-system-x86_64</emulator>\(disk)</devices>
            </domain>
            """
    }

    /// Starts a transient domain (`virsh create`); returns its UUID.
    @discardableResult
    public static func create(name: String, nbdPort: Int? = nil, start: Bool = true) throws -> String {
        let uuid = UUID().uuidString.lowercased()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(name).xml").path
        try domainXML(name: name, uuid: uuid, nbdPort: nbdPort).write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try virsh([start ? "create" : "define", path])
        return uuid
    }

    /// Destroys and undefines a domain, ignoring errors.
    public static func remove(_ uuid: String) {
        _ = try? spawnAndWait(["virsh", "-c", "qemu:///system", "destroy", uuid])
        _ = try? spawnAndWait(["virsh", "-c", "qemu:///system", "undefine", uuid])
    }
}

/// A raw disk served by qemu-nbd on 127.0.0.1:`port` through QEMU's blkdebug driver, which
/// fails reads with EIO: once (`transient`) or every time. A domain with
/// `error_policy='stop'` booting from it pauses with reason "I/O error".
public final class FailingNBDDisk: Sendable {
    public let port: Int
    let directory: String

    public init(port: Int, transient: Bool) throws {
        self.port = port
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(TestEnvironment.uniqueName("nbd")).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        chmod(directory, 0o755)
        let image = directory + "/disk.raw", rules = directory + "/blkdebug.conf"
        _ = FileManager.default.createFile(atPath: image, contents: Data(count: 1 << 20))
        try "[inject-error]\nevent = \"read_aio\"\nerrno = \"5\"\n\(transient ? "once = \"on\"\n" : "")"
            .write(toFile: rules, atomically: true, encoding: .utf8)
        stop()
        let (code, output) = try spawnAndWait([
            "qemu-nbd", "--fork", "--persistent", "--pid-file=\(Self.pidFile(port))", "-b", "127.0.0.1", "-p", String(port),
            "-f", "raw", "blkdebug:\(rules):\(image)",
        ])
        guard code == 0 else { throw TestSetupError("qemu-nbd failed (\(code)): \(output); run `\(TestEnvironment.setupCommand)`") }
    }

    /// Stops the server on this port (also one left by an earlier run) and waits until the port is free.
    /// The server's pid file: the same path for a port in every run, so a test finds and
    /// stops a server an earlier, interrupted run left behind.
    static func pidFile(_ port: Int) -> String { "/tmp/autoheal-test-nbd-\(port).pid" }

    public func stop() {
        if let text = try? String(contentsOfFile: Self.pidFile(port), encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        {
            kill(pid, SIGTERM)
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline, Self.listening(port) { usleep(50_000) }
        // qemu-nbd leaves its pid file when it is terminated; a free port needs none.
        if !Self.listening(port) { try? FileManager.default.removeItem(atPath: Self.pidFile(port)) }
    }

    static func listening(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

extension Libvirt {
    /// Pauses a running domain the way a hypervisor fault or a QMP client does: `virsh domstate
    /// --reason` then says `paused (unknown)`, the state the healer resumes by default.
    public static func stopByQMP(_ uuid: String) throws {
        try virsh(["qemu-monitor-command", uuid, "{\"execute\":\"stop\"}"])
    }

    /// One test at a time of those that make domains, across every suite: a wake-up sweep looks
    /// at every domain of the host, so such tests must not see each other's domains.
    static let exclusive = AsyncMutex()
}

/// A lock for async code: one holder at a time, waiters served in order (on the package's
/// one waiter primitive).
public final class AsyncMutex: Sendable {
    private let held = AsyncCondition(false)

    public init() {}

    public func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        let taken: Void? = await held.wait { held -> Void? in
            guard !held else { return nil }
            held = true
            return ()
        }
        guard taken != nil else { throw CancellationError() }
        defer { held.update { $0 = false } }
        return try await body()
    }
}
