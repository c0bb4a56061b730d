/// Trimming and path joining without Foundation: the daemons' modules import only
/// `FoundationEssentials`, whose `String` has no `trimmingCharacters(in:)` or path methods.
extension StringProtocol {
    /// The string without leading and trailing spaces, tabs and line breaks.
    public func trimmingWhitespace() -> String { trimming { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" } }

    /// The string without leading and trailing spaces and tabs; line breaks stay.
    public func trimmingBlanks() -> String { trimming { $0 == " " || $0 == "\t" } }

    /// `self` as a directory with `name` under it: one slash between them, whether or not the
    /// directory ends with one (Foundation's `appendingPathComponent`, which FoundationEssentials'
    /// `String` has not).
    public func pathAppending(_ name: String) -> String {
        hasSuffix("/") ? String(self) + name : String(self) + "/" + name
    }

    /// The directory part of a path (`/etc` of `/etc/auto_heal.conf`), "" when there is none.
    public var directoryPart: String { lastIndex(of: "/").map { String(self[..<$0]) } ?? "" }

    private func trimming(_ isSpace: (Character) -> Bool) -> String {
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
