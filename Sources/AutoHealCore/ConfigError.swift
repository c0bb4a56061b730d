/// A configuration problem, naming the file, and where known the line, section and key.
///
/// Its description is the one line an operator needs, for example
/// `/etc/auto_heal.conf:12: [schedule] container_auto_heal: expected whole seconds ≥ 0, got "soon"`.
public struct ConfigError: Error, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var section: String?
    public var key: String?
    public var message: String

    public init(file: String, line: Int? = nil, section: String? = nil, key: String? = nil, message: String) {
        self.file = file
        self.line = line
        self.section = section
        self.key = key
        self.message = message
    }

    public var description: String {
        var where_ = file
        if let line { where_ += ":\(line)" }
        var what = ""
        if let section { what += "[\(section)] " }
        if let key { what += "\(key): " }
        return "\(where_): \(what)\(message)"
    }
}

/// Something in the config that works but deserves a look, such as an unknown key.
public struct ConfigWarning: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var message: String

    public var description: String { "\(file):\(line): \(message)" }
}
