import Locking
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// An append-only log file that several threads write whole lines to.
///
/// Each line is one `write(2)` on an `O_APPEND` descriptor, so lines never interleave and
/// `tail -f` and copy-truncate log rotation both work; ``reopen()`` (on SIGHUP) lets
/// logrotate move the file away and have a new one made. Files are created mode 0640.
public final class LogFile: Sendable {
    public let path: String
    private let fd: Locked<Int32>
    private let reopenable: Bool

    /// A log file that could not be opened: its path and the system's reason.
    public struct OpenError: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "cannot open log file \(path): \(reason)" }
    }

    /// Opens (creating if needed) the file for appending.
    public init(path: String) throws(OpenError) {
        self.path = path
        self.fd = Locked(try Self.open(path))
        reopenable = true
    }

    private static func open(_ path: String) throws(OpenError) -> Int32 {
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw OpenError(path: path, reason: String(cString: strerror(errno))) }
        return fd
    }

    /// Opens the path again (after logrotate moved the file away) and closes the old
    /// descriptor; lines written meanwhile go to one or the other, whole. When the path cannot
    /// be opened the old descriptor is kept (lines go to the moved file) and the error returned.
    @discardableResult
    public func reopen() -> OpenError? {
        guard reopenable else { return nil }
        let fresh: Int32
        do { fresh = try Self.open(path) } catch { return error }
        let old = fd.withLock { fd -> Int32 in
            defer { fd = fresh }
            return fd
        }
        close(old)
        return nil
    }

    /// A descriptor that is already open, such as standard output (1). Never closed.
    init(descriptor: Int32, name: String) {
        self.path = name
        self.fd = Locked(descriptor)
        reopenable = false
    }

    public static let standardOutput = LogFile(descriptor: 1, name: "<stdout>")
    public static let standardError = LogFile(descriptor: 2, name: "<stderr>")

    public func write(line: String) {
        var text = line
        if !text.hasSuffix("\n") { text += "\n" }
        fd.withLock { fd in
            text.withUTF8 { buffer in
                var offset = 0
                while offset < buffer.count {
                    let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        return
                    }
                    offset += n
                }
            }
        }
    }

    deinit {
        let fd = self.fd.withLock { $0 }
        if fd > 2 { close(fd) }
    }
}
