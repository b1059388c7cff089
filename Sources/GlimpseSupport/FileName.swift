#if canImport(Glibc)
import Glibc
#endif

/// File names as the file system has them: bytes, of which Linux forbids only "/" and NUL,
/// so a name need not be UTF-8. Glimpse keeps paths as `String`s; a name that is not valid
/// UTF-8 is held losslessly by writing each byte of its invalid sequences as NUL and two
/// hex digits ("caf\u{0}E9.jpg" for the Latin-1 "café.jpg"). NUL never occurs in a real
/// path, so the form is unambiguous, and valid UTF-8 names are held as they are.
///
/// Every system call on a path goes through `withSystemPath`, which gives the exact bytes
/// back. Outputs write such names losslessly in their own way: see `shown` for text, and
/// `bytes` for the JSON outputs' `path_bytes`.
///
/// Swift's `==` on strings treats canonically equivalent names ("é" precomposed and "e"
/// with a combining accent) as equal, but the file system keeps them apart: compare and
/// sort names by `key` (their bytes) instead.
public enum FileName {
    /// The path held as a `String`: valid UTF-8 as it is, other bytes escaped.
    public static func string<Bytes: Collection>(fromBytes bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let bytes = Array(bytes)
        if !bytes.contains(0), let valid = String(validating: bytes, as: UTF8.self) { return valid }
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count + 8)
        let hex = Array("0123456789ABCDEF".utf8)
        var index = 0
        while index < bytes.count {
            let length = validSequenceLength(bytes, at: index)
            if length > 0 && bytes[index] != 0 {
                result += bytes[index..<index + length]
                index += length
            } else {
                result += [0, hex[Int(bytes[index] >> 4)], hex[Int(bytes[index] & 0xF)]]
                index += 1
            }
        }
        return String(decoding: result, as: UTF8.self)
    }

    /// The length of the well-formed UTF-8 sequence starting at `index` (Unicode's table
    /// 3-7: no overlong forms, surrogates or scalars above U+10FFFF), or 0.
    static func validSequenceLength(_ bytes: [UInt8], at index: Int) -> Int {
        let lead = bytes[index]
        let ranges: [ClosedRange<UInt8>]
        switch lead {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: ranges = [0x80...0xBF]
        case 0xE0: ranges = [0xA0...0xBF, 0x80...0xBF]
        case 0xE1...0xEC, 0xEE...0xEF: ranges = [0x80...0xBF, 0x80...0xBF]
        case 0xED: ranges = [0x80...0x9F, 0x80...0xBF]
        case 0xF0: ranges = [0x90...0xBF, 0x80...0xBF, 0x80...0xBF]
        case 0xF1...0xF3: ranges = [0x80...0xBF, 0x80...0xBF, 0x80...0xBF]
        case 0xF4: ranges = [0x80...0x8F, 0x80...0xBF, 0x80...0xBF]
        default: return 0
        }
        guard index + ranges.count < bytes.count else { return 0 }
        for (offset, range) in ranges.enumerated() where !range.contains(bytes[index + 1 + offset]) { return 0 }
        return ranges.count + 1
    }

    /// The exact bytes of a path held by `string(fromBytes:)`.
    public static func bytes(_ path: String) -> [UInt8] {
        let utf8 = Array(path.utf8)
        guard utf8.contains(0) else { return utf8 }
        var result: [UInt8] = []
        result.reserveCapacity(utf8.count)
        var index = 0
        while index < utf8.count {
            if utf8[index] == 0, index + 2 < utf8.count, let high = hexValue(utf8[index + 1]), let low = hexValue(utf8[index + 2]) {
                result.append(high << 4 | low)
                index += 3
            } else {
                result.append(utf8[index])
                index += 1
            }
        }
        return result
    }

    /// Whether the name is valid UTF-8 (held as it is, with nothing escaped).
    public static func isUTF8(_ path: String) -> Bool { !path.utf8.contains(0) }

    /// A key that tells names apart exactly as the file system does (by bytes).
    public static func key(_ path: String) -> ExactPath { ExactPath(path) }

    /// Calls `body` with the path as the C string the system calls expect: its exact bytes.
    public static func withSystemPath<Result>(_ path: String, _ body: (UnsafePointer<CChar>) throws -> Result) rethrows -> Result {
        if isUTF8(path) { return try path.withCString(body) }
        let cString = bytes(path).map { CChar(bitPattern: $0) } + [0]
        return try cString.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }

    /// The name as readable text: bytes that are not UTF-8 as `\xNN`. (Plain-text outputs
    /// also write a backslash as `\\`, so the form reads back exactly.)
    public static func shown(_ path: String) -> String {
        guard !isUTF8(path) else { return path }
        var result = ""
        var index = path.utf8.startIndex
        let utf8 = path.utf8
        var pending: [UInt8] = []
        func flush() {
            result += String(decoding: pending, as: UTF8.self)
            pending = []
        }
        while index < utf8.endIndex {
            let byte = utf8[index]
            if byte == 0 {
                let first = utf8.index(after: index)
                let second = first < utf8.endIndex ? utf8.index(after: first) : first
                if second < utf8.endIndex {
                    flush()
                    result += "\\x" + String(decoding: [utf8[first], utf8[second]], as: UTF8.self)
                    index = utf8.index(after: second)
                    continue
                }
            }
            pending.append(byte)
            index = utf8.index(after: index)
        }
        flush()
        return result
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// A path compared and hashed by its bytes, as the file system tells names apart: a key for
/// sets and dictionaries of paths (Swift's `String` would merge canonically equivalent names).
public struct ExactPath: Hashable, Sendable, Comparable {
    public let path: String
    public init(_ path: String) { self.path = path }
    public static func == (left: ExactPath, right: ExactPath) -> Bool { left.path.utf8.elementsEqual(right.path.utf8) }
    public func hash(into hasher: inout Hasher) {
        for byte in path.utf8 { hasher.combine(byte) }
    }
    /// Byte order.
    public static func < (left: ExactPath, right: ExactPath) -> Bool { left.path.utf8.lexicographicallyPrecedes(right.path.utf8) }
}
