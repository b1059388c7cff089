import Foundation
import GlimpseSafeTensors

/// A safetensors file whose header is exactly `header` (no padding) followed by `data`.
func safetensorsBytes(header: String, data: [UInt8] = []) -> [UInt8] {
    safetensorsBytes(headerBytes: Array(header.utf8), data: data)
}

func safetensorsBytes(headerBytes: [UInt8], data: [UInt8] = []) -> [UInt8] {
    lengthPrefix(UInt64(headerBytes.count)) + headerBytes + data
}

/// The 8-byte little-endian header length.
func lengthPrefix(_ length: UInt64) -> [UInt8] {
    (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * UInt64($0))) }
}

/// The little-endian bytes of `values`.
func littleEndianBytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { value in (0..<4).map { UInt8(truncatingIfNeeded: value.bitPattern >> (8 * UInt32($0))) } }
}

func littleEndianBytes(_ values: [UInt16]) -> [UInt8] {
    values.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] }
}

func littleEndianBytes(_ values: [Int64]) -> [UInt8] {
    values.flatMap { value in (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * Int64($0))) } }
}

/// Why reading `bytes` failed, or nil if it succeeded.
func readingFailure(_ bytes: [UInt8]) -> SafeTensorsError.Reason? {
    do {
        _ = try SafeTensorsFile(bytes: bytes)
        return nil
    } catch {
        return error.reason
    }
}

/// SplitMix64: a small, seedable generator so that random tests replay exactly.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Runs `body` with a fresh empty directory, removed afterwards.
@discardableResult
func withTemporaryDirectory<Value>(_ body: (String) throws -> Value) throws -> Value {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("glimpse-safetensors-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    return try body(directory)
}

func writeFile(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func readFile(_ path: String) throws -> [UInt8] {
    try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
}

enum FileManagerListing {
    /// The names in `directory`, sorted, hidden files included.
    static func contents(of directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }
}
