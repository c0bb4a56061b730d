/// A command line as an operator writes it in the config, split into words the way a POSIX
/// shell would for the simple cases: spaces separate words, single quotes keep everything,
/// double quotes keep spaces (and `\"`, `\\`), a backslash outside quotes keeps the next
/// character. No variables, globs or pipes: the words are passed to the program as they are.
public enum ShellWords {
    /// The words of `text`; nil when a quote is not closed.
    public static func split(_ text: String) -> [String]? {
        var words: [String] = []
        var word = ""
        var inWord = false
        var quote: Character? = nil
        var escaped = false
        for ch in text {
            if escaped {
                word.append(ch)
                escaped = false
                continue
            }
            switch (quote, ch) {
            case ("'", "'"), ("\"", "\""):
                quote = nil
            case ("'", _):
                word.append(ch)
            case ("\"", "\\"), (nil, "\\"):
                escaped = true
                inWord = true
            case ("\"", _):
                word.append(ch)
            case (nil, "'"), (nil, "\""):
                quote = ch
                inWord = true
            case (nil, " "), (nil, "\t"):
                if inWord { words.append(word) }
                word = ""
                inWord = false
            default:
                word.append(ch)
                inWord = true
            }
        }
        guard quote == nil, !escaped else { return nil }
        if inWord { words.append(word) }
        return words
    }
}
