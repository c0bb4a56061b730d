import FoundationEssentials
import Glibc

extension Error {
    /// What went wrong, in words an operator reads in a log line or a config error: the
    /// system's words for a failed file operation ("Permission denied"), otherwise the error as
    /// Swift prints it. The daemons' modules use `FoundationEssentials`, which has no
    /// `localizedDescription`; callers name the file themselves.
    public var operatorText: String {
        if let posix = self as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
        guard let cocoa = self as? CocoaError else { return "\(self)" }
        if let posix = cocoa.underlying as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
        switch cocoa.code {
        case .fileReadNoSuchFile, .fileNoSuchFile: return String(cString: strerror(ENOENT))
        case .fileReadNoPermission, .fileWriteNoPermission: return String(cString: strerror(EACCES))
        case .fileReadInapplicableStringEncoding, .fileReadCorruptFile: return "not valid UTF-8 text"
        case .fileReadTooLarge: return "too large to read"
        case .fileWriteFileExists: return String(cString: strerror(EEXIST))
        case .fileWriteOutOfSpace: return String(cString: strerror(ENOSPC))
        case .fileWriteVolumeReadOnly: return String(cString: strerror(EROFS))
        default: return "file error \(cocoa.code.rawValue)"
        }
    }
}
