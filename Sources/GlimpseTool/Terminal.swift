import GlimpseSupport
import Foundation
import GlimpseData
import GlimpseImage
#if canImport(Glibc)
import Glibc
#endif

enum Terminal {
    /// Writes a line to standard error.
    /// Names held with `FileName`'s escapes are shown as `\xNN`.
    static func standardError(_ line: String) {
        writeStandardError(line + "\n")
    }

    /// Writes `text` as it is (names held with `FileName`'s escapes shown as `\xNN`).
    static func writeStandardError(_ text: String) {
        let bytes = Array(FileName.shown(text).utf8)
        // write(2) on descriptor 2: no shared FILE* state, safe from any thread.
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}

/// Paths in plain-text output, one record per line: a backslash, tab, newline or carriage
/// return in a file name is written as `\\`, `\t`, `\n`, `\r`, so that every record stays on
/// one line and its tab-separated fields stay apart. (`--json` output writes names as JSON
/// strings instead.)
enum PlainText {
    /// Up to `limit` names, then how many more: "a, b, c and 4 more".
    static func list(_ names: [String], total: Int? = nil, limit: Int = 5) -> String {
        let total = max(total ?? names.count, names.count)
        let shown = names.prefix(limit).joined(separator: ", ")
        return total > min(limit, names.count) ? shown + " and \(total - min(limit, names.count)) more" : shown
    }

    /// A caption for people: the words, with "…" when the search stopped at --max-length
    /// before the model ended the sentence.
    static func caption(_ text: String, truncated: Bool) -> String { truncated ? text + "…" : text }

    /// The line on standard error after captions were cut: how many, where they are marked,
    /// and what lets them finish.
    static func truncationNote(_ count: Int, maxLength: Int, marked: String?) -> String {
        let them = count == 1 ? "it" : "them"
        return "glimpse: \(Plural.counted(count, "caption")) cut at --max-length \(maxLength) before the model ended \(them)"
            + (marked.map { " (\($0))" } ?? "") + "; a larger --max-length lets \(them) finish"
    }

    /// A path for one field of a plain-text line: a backslash as `\\`, tab and line breaks as
    /// `\t`, `\n`, `\r`, bytes that are not UTF-8 (`FileName`) as `\xNN`. Reads back exactly.
    static func escapedPath(_ path: String) -> String {
        guard path.contains(where: { $0 == "\\" || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" })
            || !FileName.isUTF8(path) else { return path }
        var result = ""
        var scalars = path.unicodeScalars.makeIterator()
        while let scalar = scalars.next() {
            switch scalar {
            case "\\": result += "\\\\"
            case "\t": result += "\\t"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\u{0}":
                // FileName's escape: NUL and two hex digits.
                result += "\\x"
                if let high = scalars.next() { result.unicodeScalars.append(high) }
                if let low = scalars.next() { result.unicodeScalars.append(low) }
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}

