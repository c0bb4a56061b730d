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

/// The stdout lines of a long-running exec (`virsh event --loop`), decoded as the frames
/// arrive: a frame or a line split across chunks is kept for the next one. Stderr lines come
/// out separately; a frame of an unknown stream type is a ``ExecStreamDemultiplexer/Failure``.
public struct ExecLineDecoder: Sendable {
    public enum Line: Sendable, Equatable {
        case stdout(String)
        case stderr(String)
    }

    private var pending: [UInt8] = []
    private var consumed = 0
    private var stdout = LineSplitter()
    private var stderr = LineSplitter()

    public init() {}

    public mutating func lines(in chunk: [UInt8]) throws(ExecStreamDemultiplexer.Failure) -> [Line] {
        pending += chunk
        var lines: [Line] = []
        var i = 0
        while pending.count - i >= 8 {
            let kind = pending[i]
            let length = Int(pending[i + 4]) << 24 | Int(pending[i + 5]) << 16 | Int(pending[i + 6]) << 8 | Int(pending[i + 7])
            guard pending.count - i - 8 >= length else { break }
            let payload = Array(pending[(i + 8)..<(i + 8 + length)])
            switch kind {
            case 0, 1: lines += stdout.lines(in: payload).map { .stdout(String(decoding: $0, as: UTF8.self)) }
            case 2: lines += stderr.lines(in: payload).map { .stderr(String(decoding: $0, as: UTF8.self)) }
            default: throw .badStreamType(kind, at: consumed + i)
            }
            i += 8 + length
        }
        pending.removeSubrange(..<i)
        consumed += i
        return lines
    }
}
