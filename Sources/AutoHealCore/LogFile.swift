#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// An append-only log file that several threads write whole lines to.
///
/// Each line is one `write(2)` on an `O_APPEND` descriptor, so lines never interleave and
/// `tail -f` and copy-truncate log rotation both work.
public final class LogFile: Sendable {
    public let path: String
    private let fd: Mutex<Int32>

    /// Opens (creating if needed) the file for appending; nil if it cannot be opened.
    public init?(path: String) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return nil }
        self.path = path
        self.fd = Mutex(fd)
    }

    /// A descriptor that is already open, such as standard output (1). Never closed.
    init(descriptor: Int32, name: String) {
        self.path = name
        self.fd = Mutex(descriptor)
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
