/// JSON literals written by hand: the one escaping rule behind every JSON text Glimpse
/// writes without an encoder (safetensors headers, JSON Lines records, prediction files).
///
/// Strings are written as their UTF-8 bytes with `"` and `\` escaped, the control
/// characters that have a short form as `\b \f \n \r \t`, and the rest of U+0000–U+001F
/// as `\u00XX`, as RFC 8259 asks; everything else, slashes and non-ASCII included, is
/// written as it is.
///
///     JSONLiteral.string("a \"red\"\tsquare")   // "\"a \\\"red\\\"\\tsquare\""
public enum JSONLiteral {
    /// `text` as a JSON string literal, quotes included.
    public static func string(_ text: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count + 2)
        append(string: text, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `text` as a JSON string literal to `output`.
    public static func append(string text: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case 0x22: output.append(contentsOf: [0x5C, 0x22])
            case 0x5C: output.append(contentsOf: [0x5C, 0x5C])
            case 0x08: output.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: output.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0x0A: output.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: output.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: output.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                output.append(contentsOf: Array("\\u00".utf8))
                output.append(hexDigits[Int(byte >> 4)])
                output.append(hexDigits[Int(byte & 0xF)])
            default:
                output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }

    /// Appends `values` as a JSON array of integers, `[1,2,3]`, to `output`.
    public static func append(integers values: [Int], to output: inout [UInt8]) {
        output.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            output.append(contentsOf: String(value).utf8)
        }
        output.append(UInt8(ascii: "]"))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}
