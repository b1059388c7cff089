/// A syntax error at a byte offset of the parsed text.
struct JSONSyntaxError: Error {
    let byteOffset: Int
    let problem: String
}

/// A strict RFC 8259 reader that walks JSON bytes in place instead of building a
/// tree, so that the caller keeps only what it needs: a header of a hundred
/// megabytes of `[0,0,0,...]` costs no more memory than the integers it holds.
/// Every read is bounds-checked and nesting is capped, so that no input can trap
/// or exhaust the stack.
///
/// Use `validate` first; the cursor methods then read a value known to be well formed.
struct JSONReader {
    enum Kind {
        case object, array, string, number, bool, null

        /// For messages: "an object", "a string", ...
        var phrase: String {
            switch self {
            case .object: return "an object"
            case .array: return "an array"
            case .string: return "a string"
            case .number: return "a number"
            case .bool: return "a boolean"
            case .null: return "null"
            }
        }
    }

    /// Progress through one object or array.
    struct Container {
        fileprivate var isFirst = true
    }

    /// Deeper nesting is rejected. Safetensors headers nest three levels.
    static let maximumDepth = 64

    let bytes: [UInt8]
    private(set) var position = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Checks that `bytes` hold one JSON value and nothing but whitespace around it,
    /// allocating nothing.
    static func validate(_ bytes: [UInt8]) throws(JSONSyntaxError) {
        var reader = JSONReader(bytes)
        reader.skipWhitespace()
        try reader.skipValue(depth: 0)
        reader.skipWhitespace()
        if reader.position < bytes.count {
            throw reader.error("unexpected content after the top-level value")
        }
    }

    // MARK: Cursor

    /// The kind of the next value, after any whitespace.
    mutating func peekKind() throws(JSONSyntaxError) -> Kind {
        skipWhitespace()
        guard let byte = current else { throw error("unexpected end, expected a value") }
        switch byte {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        case UInt8(ascii: "n"): return .null
        default: throw error("unexpected character, expected a value")
        }
    }

    /// Consumes `{`.
    mutating func enterObject() throws(JSONSyntaxError) -> Container {
        skipWhitespace()
        try expect(UInt8(ascii: "{"), "'{'")
        return Container()
    }

    /// The next member's key, with its `:` consumed so that the value comes next;
    /// nil once the closing `}` is consumed.
    mutating func nextKey(_ object: inout Container) throws(JSONSyntaxError) -> String? {
        guard try nextItem(&object, closing: UInt8(ascii: "}")) else { return nil }
        skipWhitespace()
        guard current == UInt8(ascii: "\"") else {
            throw error(current == nil ? "unexpected end, expected a key" : "expected a string key")
        }
        let key = try readString()
        skipWhitespace()
        try expect(UInt8(ascii: ":"), "':'")
        return key
    }

    /// Consumes `[`.
    mutating func enterArray() throws(JSONSyntaxError) -> Container {
        skipWhitespace()
        try expect(UInt8(ascii: "["), "'['")
        return Container()
    }

    /// True when another element follows (read it next); false once the closing `]` is consumed.
    mutating func nextElement(_ array: inout Container) throws(JSONSyntaxError) -> Bool {
        try nextItem(&array, closing: UInt8(ascii: "]"))
    }

    private mutating func nextItem(_ container: inout Container, closing: UInt8) throws(JSONSyntaxError) -> Bool {
        skipWhitespace()
        if current == closing {
            position += 1
            return false
        }
        if !container.isFirst {
            try expect(UInt8(ascii: ","), "',' or '\(Character(Unicode.Scalar(closing)))'")
            skipWhitespace()
        }
        container.isFirst = false
        return true
    }

    /// Reads a string value.
    mutating func readString() throws(JSONSyntaxError) -> String {
        skipWhitespace()
        guard current == UInt8(ascii: "\"") else { throw error("expected a string") }
        let start = position + 1
        // Fast path: no escapes, so the bytes between the quotes are the string.
        var end = start
        while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\"), bytes[end] >= 0x20 {
            end += 1
        }
        if end < bytes.count, bytes[end] == UInt8(ascii: "\"") {
            guard let string = String(validating: bytes[start..<end], as: UTF8.self) else {
                throw error("string is not valid UTF-8")
            }
            position = end + 1
            return string
        }
        var utf8: [UInt8] = []
        try scanString { byte in utf8.append(byte) }
        guard let string = String(validating: utf8, as: UTF8.self) else { throw error("string is not valid UTF-8") }
        return string
    }

    /// If the next value is a plain non-negative integer (`0`, `42`) that fits in an
    /// `Int`, consumes it and returns its value; otherwise consumes nothing and
    /// returns nil (for `-1`, `2.0`, `1e3`, `"2"`, ...).
    mutating func readNonNegativeInteger() throws(JSONSyntaxError) -> Int? {
        skipWhitespace()
        var end = position
        var value = 0
        while end < bytes.count, bytes[end] >= UInt8(ascii: "0"), bytes[end] <= UInt8(ascii: "9") {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int(bytes[end] - UInt8(ascii: "0")))
            if overflow1 || overflow2 { return nil }
            value = sum
            end += 1
        }
        guard end > position else { return nil }
        if end < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[end]) {
            return nil
        }
        position = end
        return value
    }

    /// Skips the next value and returns its text, shortened to `limit` characters, for messages.
    mutating func skipValueReturningText(limit: Int = 40) throws(JSONSyntaxError) -> String {
        skipWhitespace()
        let start = position
        try skipValue(depth: 0)
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        return text.count <= limit ? text : String(text.prefix(limit)) + "..."
    }

    /// Skips the next value, of any kind, allocating nothing.
    mutating func skipValue(depth: Int = 0) throws(JSONSyntaxError) {
        switch try peekKind() {
        case .object:
            if depth >= Self.maximumDepth { throw error("nested deeper than \(Self.maximumDepth) levels") }
            var object = try enterObject()
            while try nextItem(&object, closing: UInt8(ascii: "}")) {
                guard current == UInt8(ascii: "\"") else {
                    throw error(current == nil ? "unexpected end, expected a key" : "expected a string key")
                }
                try scanString { _ in }
                skipWhitespace()
                try expect(UInt8(ascii: ":"), "':'")
                try skipValue(depth: depth + 1)
            }
        case .array:
            if depth >= Self.maximumDepth { throw error("nested deeper than \(Self.maximumDepth) levels") }
            var array = try enterArray()
            while try nextElement(&array) {
                try skipValue(depth: depth + 1)
            }
        case .string:
            try scanString { _ in }
        case .number:
            try skipNumber()
        case .bool:
            try skipKeyword(current == UInt8(ascii: "t") ? "true" : "false")
        case .null:
            try skipKeyword("null")
        }
    }

    // MARK: Lexing

    private func error(_ problem: String) -> JSONSyntaxError {
        JSONSyntaxError(byteOffset: position, problem: problem)
    }

    private var current: UInt8? {
        position < bytes.count ? bytes[position] : nil
    }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D {
            position += 1
        }
    }

    private mutating func expect(_ byte: UInt8, _ what: String) throws(JSONSyntaxError) {
        guard current == byte else {
            throw error(current == nil ? "unexpected end, expected \(what)" : "expected \(what)")
        }
        position += 1
    }

    private mutating func skipKeyword(_ keyword: StaticString) throws(JSONSyntaxError) {
        let count = keyword.utf8CodeUnitCount
        guard bytes.count - position >= count else { throw error("unexpected end in a literal") }
        let matches = keyword.withUTF8Buffer { expected in
            expected.indices.allSatisfy { bytes[position + $0] == expected[$0] }
        }
        guard matches else { throw error("invalid literal") }
        position += count
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    private mutating func skipNumber() throws(JSONSyntaxError) {
        if current == UInt8(ascii: "-") { position += 1 }
        if current == UInt8(ascii: "0") {
            position += 1
        } else if !skipDigits() {
            throw error("expected a digit")
        }
        if current == UInt8(ascii: ".") {
            position += 1
            guard skipDigits() else { throw error("expected a digit after '.'") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard skipDigits() else { throw error("expected a digit in the exponent") }
        }
    }

    /// Skips `[0-9]*`; true if at least one digit was there.
    private mutating func skipDigits() -> Bool {
        let start = position
        while let byte = current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
            position += 1
        }
        return position > start
    }

    /// Consumes a string from its opening quote, handing each decoded UTF-8 byte to `emit`.
    private mutating func scanString(_ emit: (UInt8) -> Void) throws(JSONSyntaxError) {
        position += 1  // opening quote
        while true {
            guard let byte = current else { throw error("unterminated string") }
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return
            case UInt8(ascii: "\\"):
                position += 1
                try scanEscape(emit)
            case 0..<0x20:
                throw error("unescaped control character in a string")
            default:
                emit(byte)
                position += 1
            }
        }
    }

    private mutating func scanEscape(_ emit: (UInt8) -> Void) throws(JSONSyntaxError) {
        guard let byte = current else { throw error("unterminated escape") }
        switch byte {
        case UInt8(ascii: "\""): emit(0x22)
        case UInt8(ascii: "\\"): emit(0x5C)
        case UInt8(ascii: "/"): emit(0x2F)
        case UInt8(ascii: "b"): emit(0x08)
        case UInt8(ascii: "f"): emit(0x0C)
        case UInt8(ascii: "n"): emit(0x0A)
        case UInt8(ascii: "r"): emit(0x0D)
        case UInt8(ascii: "t"): emit(0x09)
        case UInt8(ascii: "u"):
            position += 1
            let first = try readHex4()
            var scalarValue = UInt32(first)
            if (0xD800...0xDBFF).contains(first) {
                guard bytes.count - position >= 6,
                      bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u")
                else { throw error("lone leading surrogate in \\u escape") }
                position += 2
                let second = try readHex4()
                guard (0xDC00...0xDFFF).contains(second) else {
                    throw error("leading surrogate not followed by a trailing one")
                }
                scalarValue = 0x10000 + ((UInt32(first) - 0xD800) << 10) + (UInt32(second) - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(first) {
                throw error("lone trailing surrogate in \\u escape")
            }
            guard let scalar = Unicode.Scalar(scalarValue), let encoded = UTF8.encode(scalar) else {
                throw error("invalid \\u escape")
            }
            encoded.forEach(emit)
            return  // readHex4 has moved past the escape
        default:
            throw error("invalid escape character")
        }
        position += 1
    }

    private mutating func readHex4() throws(JSONSyntaxError) -> UInt16 {
        guard bytes.count - position >= 4 else { throw error("unexpected end in a \\u escape") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("invalid hex digit in a \\u escape")
            }
            value = value << 4 | UInt16(digit)
            position += 1
        }
        return value
    }
}
