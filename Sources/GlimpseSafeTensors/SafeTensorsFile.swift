// The fuzzer compiles this module's sources with GlimpseSupport's into one module.
#if canImport(GlimpseSupport)
import GlimpseSupport
#endif
/// A safetensors file read into memory and validated. Tensor values are decoded
/// on request, straight from the file's bytes.
///
/// ```swift
/// let checkpoint = try SafeTensorsFile(contentsOf: "model.safetensors")
/// let weight = try checkpoint.floats(named: "decoder.weight")  // weight.shape, weight.values
/// ```
public struct SafeTensorsFile: Sendable {
    /// The file path, or the label given for in-memory bytes; errors carry it.
    public let path: String
    /// The `__metadata__` map; empty when the file has none.
    public let metadata: [String: String]
    /// Every tensor, sorted by name (byte order of the UTF-8, as the writer lays them out).
    public let entries: [SafeTensorsEntry]
    /// Length of the JSON header in bytes, padding included.
    public let headerByteCount: Int

    private let bytes: [UInt8]
    private let dataStart: Int
    private let indexByName: [String: Int]

    /// Reads and validates the file at `path`.
    public init(contentsOf path: String) throws(SafeTensorsError) {
        // The header first: a file whose size is not what its header's tensors promise (a
        // 20 GB file of junk behind a small header) is refused before its data is read.
        let (lengthBytes, fileByteCount) = try Self.readPrefix(path, count: 8)
        if lengthBytes.count == 8 {
            let declared = lengthBytes.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            if declared <= UInt64(SafeTensorsHeader.maximumByteCount) {
                let (prefix, _) = try Self.readPrefix(path, count: 8 + Int(declared))
                _ = try SafeTensorsHeader.parse(prefix: prefix, fileByteCount: fileByteCount, path: path)
            }
        }
        try self.init(bytes: Self.readPrefix(path, count: Int.max).bytes, path: path)
    }

    /// `FileBytes.readPrefix` (the one reader: regular files only, never waiting on a FIFO),
    /// its failures as this module's errors.
    static func readPrefix(_ path: String, count: Int) throws(SafeTensorsError) -> (bytes: [UInt8], fileByteCount: Int) {
        do { return try FileBytes.readPrefix(path, count: count) } catch {
            switch error.reason {
            case .unreadable(let message): throw SafeTensorsError(path: path, reason: .unreadable(message))
            case .tooLarge: throw SafeTensorsError(path: path, reason: .unreadable(error.reasonDescription))
            }
        }
    }

    /// Validates a whole file held in memory; `path` labels errors.
    public init(bytes: [UInt8], path: String = "<memory>") throws(SafeTensorsError) {
        let header = try SafeTensorsHeader.parse(file: bytes, path: path)
        self.path = path
        self.bytes = bytes
        self.metadata = header.metadata
        self.dataStart = header.dataStart
        self.headerByteCount = header.dataStart - 8
        self.entries = header.entries.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        self.indexByName = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.name, $0) })
    }

    /// Tensor names, sorted.
    public var names: [String] { entries.map(\.name) }

    /// The header's description of `name`, or nil if there is no such tensor.
    public func entry(named name: String) -> SafeTensorsEntry? {
        indexByName[name].map { entries[$0] }
    }

    /// The values of an `F32`, `F16` or `BF16` tensor as `Float`, converted exactly.
    /// With `convertingIntegers`, an `I64` tensor is also accepted and each value
    /// rounded to the nearest `Float` (exact up to 2^24 in magnitude).
    public func floats(named name: String, convertingIntegers: Bool = false) throws(SafeTensorsError) -> ShapedArray<Float> {
        let entry = try lookUp(name)
        let accepted = SafeTensorsDType.floatingPoint + (convertingIntegers ? [.int64] : [])
        guard accepted.contains(entry.dtype) else {
            throw SafeTensorsError(path: path, reason: .wrongDType(tensor: name, dtype: entry.dtype, expected: accepted))
        }
        let values = ElementDecoding.floats(bytes, offset: dataStart + entry.dataOffsets.lowerBound,
                                            count: entry.elementCount, dtype: entry.dtype)
        return ShapedArray(validatedShape: entry.shape, values: values)
    }

    /// `floats(named:)` written straight into `destination`, which must hold exactly the
    /// tensor's element count: one copy from the file's bytes, no intermediate array.
    public func decodeFloats(named name: String, into destination: UnsafeMutableBufferPointer<Float>) throws(SafeTensorsError) {
        let entry = try lookUp(name)
        guard SafeTensorsDType.floatingPoint.contains(entry.dtype) else {
            throw SafeTensorsError(path: path, reason: .wrongDType(tensor: name, dtype: entry.dtype, expected: SafeTensorsDType.floatingPoint))
        }
        precondition(destination.count == entry.elementCount,
                     "\(name) has \(entry.elementCount) elements; the destination holds \(destination.count)")
        ElementDecoding.decodeFloats(bytes, offset: dataStart + entry.dataOffsets.lowerBound, count: entry.elementCount,
                                     dtype: entry.dtype, into: destination)
    }

    /// The values of an `I64` tensor.
    public func int64s(named name: String) throws(SafeTensorsError) -> ShapedArray<Int64> {
        let entry = try lookUp(name)
        guard entry.dtype == .int64 else {
            throw SafeTensorsError(path: path, reason: .wrongDType(tensor: name, dtype: entry.dtype, expected: [.int64]))
        }
        let values = ElementDecoding.int64s(bytes, offset: dataStart + entry.dataOffsets.lowerBound, count: entry.elementCount)
        return ShapedArray(validatedShape: entry.shape, values: values)
    }

    /// The tensor's bytes as stored (little-endian), for dtypes this reader does not decode.
    public func rawBytes(named name: String) throws(SafeTensorsError) -> [UInt8] {
        let entry = try lookUp(name)
        return Array(bytes[(dataStart + entry.dataOffsets.lowerBound)..<(dataStart + entry.dataOffsets.upperBound)])
    }

    private func lookUp(_ name: String) throws(SafeTensorsError) -> SafeTensorsEntry {
        guard let entry = entry(named: name) else {
            throw SafeTensorsError(path: path, reason: .tensorNotFound(name))
        }
        return entry
    }
}
