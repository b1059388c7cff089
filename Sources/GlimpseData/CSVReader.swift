/// RFC 4180 CSV: comma-separated fields, double-quoted fields may hold commas,
/// line breaks and doubled quotes (`""`); CRLF or LF line ends; a UTF-8 byte-order
/// mark is ignored.
///
/// With `quotedLineBreaks: false` (files of one record per line, such as caption files) a
/// quote still open at the end of its line ends that row as `unterminatedQuote` and the next
/// line is read afresh: one stray quote costs its own row, never the rows after it.
enum CSVReader {
    struct Row {
        var fields: [String]
        /// 1-based line where the row starts.
        var line: Int
        /// A quoted field was not closed before the end of the file.
        var unterminatedQuote: Bool
    }

    static func rows(_ text: String, quotedLineBreaks: Bool = true) -> [Row] {
        var scalars = Array(text.unicodeScalars)
        if scalars.first == "\u{FEFF}" { scalars.removeFirst() }
        var parser = Parser(quotedLineBreaks: quotedLineBreaks)
        var index = 0
        while index < scalars.count {
            let next = index + 1 < scalars.count ? scalars[index + 1] : nil
            if parser.read(scalars[index], next: next) { index += 1 }
            index += 1
        }
        parser.finish()
        return parser.rows
    }

    /// The rows read so far and the row and field being read.
    private struct Parser {
        let quotedLineBreaks: Bool
        var rows: [Row] = []
        var fields: [String] = []
        var field = String.UnicodeScalarView()
        var inQuotes = false
        var fieldWasQuoted = false
        /// 1-based: the line being read, and the one where the current row started.
        var line = 1
        var rowStart = 1

        init(quotedLineBreaks: Bool) {
            self.quotedLineBreaks = quotedLineBreaks
        }

        /// Reads `scalar`, with `next` the one after it (nil at the end). Returns whether it
        /// read `next` too.
        mutating func read(_ scalar: Unicode.Scalar, next: Unicode.Scalar?) -> Bool {
            inQuotes ? readQuoted(scalar, next: next) : readUnquoted(scalar, next: next)
        }

        /// Inside a quoted field: `""` is a quote and `"` closes the field. A line break is
        /// part of the field, or with `quotedLineBreaks: false` ends the row as unterminated.
        private mutating func readQuoted(_ scalar: Unicode.Scalar, next: Unicode.Scalar?) -> Bool {
            if scalar == "\"" {
                if next == "\"" {
                    field.append("\"")
                    return true
                }
                inQuotes = false
            } else if !quotedLineBreaks && (scalar == "\n" || scalar == "\r") {
                endUnterminatedRow()
                inQuotes = false
                line += 1
                rowStart = line
                return scalar == "\r" && next == "\n"
            } else {
                if scalar == "\n" { line += 1 }
                field.append(scalar)
            }
            return false
        }

        /// Outside quotes: a quote opens a field that has nothing yet, commas end fields and
        /// line breaks (CRLF, LF or CR) end rows.
        private mutating func readUnquoted(_ scalar: Unicode.Scalar, next: Unicode.Scalar?) -> Bool {
            switch scalar {
            case "\"" where field.isEmpty && !fieldWasQuoted:
                inQuotes = true
                fieldWasQuoted = true
            case ",":
                endField()
            case "\r" where next == "\n":
                break  // the \n ends the row
            case "\n", "\r":
                endRow()
                line += 1
                rowStart = line
            default:
                field.append(scalar)
            }
            return false
        }

        /// At the end of the text: the last row, if it has anything.
        mutating func finish() {
            if inQuotes {
                endUnterminatedRow()
            } else if !field.isEmpty || !fields.isEmpty {
                endRow()
            }
        }

        private mutating func endField() {
            fields.append(String(field))
            field = String.UnicodeScalarView()
            fieldWasQuoted = false
        }

        private mutating func endRow() {
            endField()
            // A blank line is no row.
            if !(fields.count == 1 && fields[0].isEmpty) {
                rows.append(Row(fields: fields, line: rowStart, unterminatedQuote: false))
            }
            fields = []
        }

        private mutating func endUnterminatedRow() {
            endField()
            rows.append(Row(fields: fields, line: rowStart, unterminatedQuote: true))
            fields = []
        }
    }
}
