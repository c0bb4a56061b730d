/// What a command run with ``DockerClient/exec(_:command:timeout:maxOutputBytes:)`` did.
public struct ExecResult: Sendable, Equatable {
    public var exitCode: Int
    public var stdout: String
    public var stderr: String
    public var duration: Duration

    public init(exitCode: Int, stdout: String, stderr: String, duration: Duration = .zero) {
        self.exitCode = exitCode
        self.stdout = stdout
        self.stderr = stderr
        self.duration = duration
    }
}

/// Splits Docker's multiplexed exec stream (`Tty: false`) into stdout and stderr.
///
/// Each frame is an 8-byte header — stream type (1 stdout, 2 stderr; 0 stdin), three zero
/// bytes, and the payload length as a big-endian UInt32 — followed by the payload.
public enum ExecStreamDemultiplexer {
    public enum Failure: Error, Equatable {
        /// The stream ends inside a header or a payload (bytes offset where the bad frame starts).
        case truncated(at: Int)
        case badStreamType(UInt8, at: Int)
    }

    public static func split(_ bytes: [UInt8]) throws(Failure) -> (stdout: [UInt8], stderr: [UInt8]) {
        var stdout: [UInt8] = [], stderr: [UInt8] = []
        var i = 0
        while i < bytes.count {
            guard bytes.count - i >= 8 else { throw .truncated(at: i) }
            let kind = bytes[i]
            let length = Int(bytes[i + 4]) << 24 | Int(bytes[i + 5]) << 16 | Int(bytes[i + 6]) << 8 | Int(bytes[i + 7])
            guard bytes.count - i - 8 >= length else { throw .truncated(at: i) }
            let payload = bytes[(i + 8)..<(i + 8 + length)]
            switch kind {
            case 0, 1: stdout += payload
            case 2: stderr += payload
            default: throw .badStreamType(kind, at: i)
            }
            i += 8 + length
        }
        return (stdout, stderr)
    }
}
