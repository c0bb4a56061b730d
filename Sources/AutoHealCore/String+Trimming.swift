/// Trimming without Foundation: the daemons' modules import only `FoundationEssentials`,
/// which has no `trimmingCharacters(in:)`.
extension StringProtocol {
    /// The string without leading and trailing spaces, tabs and line breaks.
    public func trimmingWhitespace() -> String { trimming { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" } }

    /// The string without leading and trailing spaces and tabs; line breaks stay.
    public func trimmingBlanks() -> String { trimming { $0 == " " || $0 == "\t" } }

    private func trimming(_ isSpace: (Character) -> Bool) -> String {
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
