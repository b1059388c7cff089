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
        var rows: [Row] = []
        var fields: [String] = []
        var field = String.UnicodeScalarView()
        var inQuotes = false
        var fieldWasQuoted = false
        var line = 1
        var rowStart = 1
        var scalars = Array(text.unicodeScalars)
        if scalars.first == "\u{FEFF}" { scalars.removeFirst() }
        var index = 0
        func endField() {
            fields.append(String(field))
            field = String.UnicodeScalarView()
            fieldWasQuoted = false
        }
        func endRow() {
            endField()
            // A blank line is no row.
            if !(fields.count == 1 && fields[0].isEmpty) {
                rows.append(Row(fields: fields, line: rowStart, unterminatedQuote: false))
            }
            fields = []
        }
        while index < scalars.count {
            let scalar = scalars[index]
            if inQuotes {
                if scalar == "\"" {
                    if index + 1 < scalars.count && scalars[index + 1] == "\"" {
                        field.append("\"")
                        index += 1
                    } else {
                        inQuotes = false
                    }
                } else if !quotedLineBreaks && (scalar == "\n" || scalar == "\r") {
                    if scalar == "\r" && index + 1 < scalars.count && scalars[index + 1] == "\n" { index += 1 }
                    endField()
                    rows.append(Row(fields: fields, line: rowStart, unterminatedQuote: true))
                    fields = []
                    inQuotes = false
                    line += 1
                    rowStart = line
                } else {
                    if scalar == "\n" { line += 1 }
                    field.append(scalar)
                }
            } else {
                switch scalar {
                case "\"" where field.isEmpty && !fieldWasQuoted:
                    inQuotes = true
                    fieldWasQuoted = true
                case ",":
                    endField()
                case "\r" where index + 1 < scalars.count && scalars[index + 1] == "\n":
                    break  // the \n ends the row
                case "\n", "\r":
                    endRow()
                    line += 1
                    rowStart = line
                default:
                    field.append(scalar)
                }
            }
            index += 1
        }
        if inQuotes {
            endField()
            rows.append(Row(fields: fields, line: rowStart, unterminatedQuote: true))
        } else if !field.isEmpty || !fields.isEmpty {
            endRow()
        }
        return rows
    }
}
