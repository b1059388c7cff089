import Foundation
import GlimpseData
import GlimpseImage
import GlimpseSupport

// The tool's JSON output, in one place: flat JSON Lines objects with exact escaping
// (`JSONLine`), nested objects with sorted keys (`JSONText`), short numbers (`JSONNumber`)
// and file names of any bytes (`JSONLine.pathFields`).

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

    static func quote(_ text: String) -> String { JSONLiteral.string(text) }

    /// A path as JSON fields: `key` with the name as text (`FileName.shown`), and, only for a
    /// name that is not valid UTF-8, `key_bytes` with its exact bytes in base64.
    static func pathFields(_ key: String, _ path: String) -> [(String, String)] {
        if FileName.isUTF8(path) { return [(key, path)] }
        return [(key, FileName.shown(path)), (key + "_bytes", Data(FileName.bytes(path)).base64EncodedString())]
    }

    /// The path that `pathFields` wrote into `object`, or nil when the fields are malformed.
    static func path(_ key: String, in object: [String: Any]) -> String? {
        guard let text = object[key] as? String else { return nil }
        guard let encoded = object[key + "_bytes"] else { return text }
        guard let base64 = encoded as? String, let bytes = Data(base64Encoded: base64) else { return nil }
        return FileName.string(fromBytes: bytes)
    }
}

/// One-line JSON with sorted keys (stable output for scripts and diffs).
enum JSONText {
    static func line(_ object: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return "{}"
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// An Encodable value as JSONSerialization objects, to sit inside a larger object.
    static func object<Value: Encodable>(_ value: Value) -> Any {
        guard let data = try? JSONEncoder().encode(value), let object = try? JSONSerialization.jsonObject(with: data) else {
            return [String: Any]()
        }
        return object
    }
}

/// Numbers for JSON that print short: a Float through its shortest decimal form.
enum JSONNumber {
    static func rounded(_ value: Float) -> Double { Double(String(value)) ?? Double(value) }
    static func rounded(_ value: Double) -> Double { (value * 1e6).rounded() / 1e6 }
}
