/// An INI file as read: sections of `key = value` entries, each remembering its line.
///
/// The dialect is Python's configparser, which the old deployment used: `[section]` headers,
/// `key = value` or `key: value`, keys case-insensitive, whole-line comments starting with
/// `#` or `;`, and indented lines continuing the previous value. There are no inline
/// comments, so a password may contain `#`. A duplicate section or key is an error.
public struct INIDocument: Sendable {
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: String
        public var line: Int
    }

    public struct Section: Sendable {
        public var name: String
        public var line: Int
        public var entries: [Entry]

        /// The entry for a key, compared case-insensitively.
        public func entry(_ key: String) -> Entry? {
            let wanted = key.lowercased()
            return entries.first { $0.key == wanted }
        }
    }

    public var sections: [Section]

    public func section(_ name: String) -> Section? {
        let wanted = name.lowercased()
        return sections.first { $0.name.lowercased() == wanted }
    }

    /// A syntax error at a line.
    public struct SyntaxError: Error, Equatable {
        public var line: Int
        public var message: String
    }

    public init(parsing text: String) throws(SyntaxError) {
        var sections: [Section] = []
        var lastKeyLine: Int? = nil
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            let trimmed = line.trimmingWhitespace()
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix(";") {
                if trimmed.isEmpty { lastKeyLine = nil }
                continue
            }
            let indented = line.first == " " || line.first == "\t"
            if indented, lastKeyLine != nil, !sections.isEmpty, !sections[sections.count - 1].entries.isEmpty {
                // Continuation of the previous value.
                let i = sections.count - 1, j = sections[i].entries.count - 1
                let previous = sections[i].entries[j].value
                sections[i].entries[j].value = previous.isEmpty ? trimmed : previous + "\n" + trimmed
                continue
            }
            if trimmed.hasPrefix("[") {
                guard trimmed.hasSuffix("]"), trimmed.count > 2 else {
                    throw SyntaxError(line: lineNumber, message: "a section header must look like [name]")
                }
                let name = String(trimmed.dropFirst().dropLast()).trimmingWhitespace()
                if let first = sections.first(where: { $0.name.lowercased() == name.lowercased() }) {
                    throw SyntaxError(line: lineNumber, message: "section [\(name)] appears twice (first at line \(first.line))")
                }
                sections.append(Section(name: name, line: lineNumber, entries: []))
                lastKeyLine = nil
                continue
            }
            guard let separator = trimmed.firstIndex(where: { $0 == "=" || $0 == ":" }) else {
                throw SyntaxError(line: lineNumber, message: "expected `key = value`, a [section] header or a comment")
            }
            let key = trimmed[..<separator].trimmingWhitespace().lowercased()
            let value = trimmed[trimmed.index(after: separator)...].trimmingWhitespace()
            guard !key.isEmpty else { throw SyntaxError(line: lineNumber, message: "a key is missing before `=`") }
            guard !sections.isEmpty else {
                throw SyntaxError(line: lineNumber, message: "`\(key)` comes before any [section] header")
            }
            if let first = sections[sections.count - 1].entry(key) {
                throw SyntaxError(
                    line: lineNumber,
                    message: "key `\(key)` appears twice in [\(sections[sections.count - 1].name)] (first at line \(first.line))")
            }
            sections[sections.count - 1].entries.append(Entry(key: key, value: value, line: lineNumber))
            lastKeyLine = lineNumber
        }
        self.sections = sections
    }
}
