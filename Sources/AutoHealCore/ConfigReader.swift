/// Reads typed values out of an ``INIDocument``, turning bad values into ``ConfigError``s
/// that name file, line, section and key, and remembering which keys were used so the rest
/// can be reported as unknown.
struct ConfigReader {
    let file: String
    let document: INIDocument
    private(set) var used: Set<String> = []  // "section\0key"

    init(file: String, document: INIDocument) {
        self.file = file
        self.document = document
    }

    private mutating func entry(_ section: String, _ key: String) -> INIDocument.Entry? {
        used.insert(section.lowercased() + "\u{0}" + key.lowercased())
        return document.section(section)?.entry(key)
    }

    func error(_ section: String, _ entry: INIDocument.Entry, _ message: String) -> ConfigError {
        ConfigError(file: file, line: entry.line, section: section, key: entry.key, message: message)
    }

    mutating func string(_ section: String, _ key: String, default value: String) -> String {
        entry(section, key)?.value ?? value
    }

    /// Like ``string(_:_:default:)`` but also says where the value came from.
    mutating func rawEntry(_ section: String, _ key: String) -> INIDocument.Entry? {
        entry(section, key)
    }

    mutating func integer(_ section: String, _ key: String, default value: Int, range: ClosedRange<Int>, unit: String) throws(ConfigError)
        -> Int
    {
        guard let e = entry(section, key) else { return value }
        guard let n = Int(e.value), range.contains(n) else {
            let bound = range.upperBound == Int.max ? "≥ \(range.lowerBound)" : "from \(range.lowerBound) to \(range.upperBound)"
            throw error(section, e, "expected \(unit) \(bound), got \"\(e.value)\"")
        }
        return n
    }

    mutating func boolean(_ section: String, _ key: String, default value: Bool) throws(ConfigError) -> Bool {
        guard let e = entry(section, key) else { return value }
        switch e.value.lowercased() {
        case "1", "yes", "true", "on": return true
        case "0", "no", "false", "off": return false
        default: throw error(section, e, "expected true or false, got \"\(e.value)\"")
        }
    }

    /// A comma- (or line-) separated list; blank items are dropped.
    mutating func list(_ section: String, _ key: String, default value: [String]) -> (items: [String], entry: INIDocument.Entry?) {
        guard let e = entry(section, key) else { return (value, nil) }
        let items = e.value.split(whereSeparator: { $0 == "," || $0 == "\n" })
            .map { $0.trimmingWhitespace() }
            .filter { !$0.isEmpty }
        return (items, e)
    }

    /// Keys present in the file that nothing read, and sections nothing knows.
    func unknownKeyWarnings(knownSections: [String]) -> [ConfigWarning] {
        var warnings: [ConfigWarning] = []
        let known = Set(knownSections.map { $0.lowercased() })
        for section in document.sections {
            guard known.contains(section.name.lowercased()) else {
                warnings.append(ConfigWarning(file: file, line: section.line, message: "unknown section [\(section.name)] is ignored"))
                continue
            }
            for e in section.entries where !used.contains(section.name.lowercased() + "\u{0}" + e.key) {
                warnings.append(ConfigWarning(file: file, line: e.line, message: "[\(section.name)] unknown key `\(e.key)` is ignored"))
            }
        }
        return warnings
    }
}
