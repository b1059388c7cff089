import GlimpseData
#if canImport(Glibc)
import Glibc
#endif

enum Terminal {
    /// Writes a line to standard error.
    static func standardError(_ line: String) {
        var text = line
        text += "\n"
        // write(2) on descriptor 2: no shared FILE* state, safe from any thread.
        _ = text.withCString { write(2, $0, strlen($0)) }
    }

    /// Redraws the current line of standard error (a terminal's progress bar).
    static func standardErrorInPlace(_ line: String) {
        let text = "\r\u{1B}[K" + line
        _ = text.withCString { write(2, $0, strlen($0)) }
    }
}

/// Paths in plain-text output, one record per line: a backslash, tab, newline or carriage
/// return in a file name is written as `\\`, `\t`, `\n`, `\r`, so that every record stays on
/// one line and its tab-separated fields stay apart. (`--json` output writes names as JSON
/// strings instead.)
enum PlainText {
    static func escapedPath(_ path: String) -> String {
        guard path.contains(where: { $0 == "\\" || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else { return path }
        var result = ""
        for scalar in path.unicodeScalars {
            switch scalar {
            case "\\": result += "\\\\"
            case "\t": result += "\\t"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}

/// A minimal JSON Lines writer for flat objects, with correct string escaping.
enum JSONLine {
    enum Value {
        case string(String), int(Int), double(Double), bool(Bool)
    }

    static func object(_ fields: [(String, Value)]) -> String {
        "{" + fields.map { "\(quote($0.0)):\(render($0.1))" }.joined(separator: ",") + "}"
    }

    static func render(_ value: Value) -> String {
        switch value {
        case .string(let text): return quote(text)
        case .int(let number): return String(number)
        case .double(let number): return number.isFinite ? String(number) : "null"
        case .bool(let flag): return flag ? "true" : "false"
        }
    }

    static func quote(_ text: String) -> String { JSONString.quote(text) }
}
