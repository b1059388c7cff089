// The fuzzer compiles this module's sources with GlimpseSupport's into one module.
#if canImport(GlimpseSupport)
import GlimpseSupport
#endif
/// Writes `F32` and `I64` tensors and a metadata map in the safetensors format.
///
/// Output is deterministic and byte-identical to the reference writer for the same
/// input: tensors sorted by name (byte order of their UTF-8) and laid out
/// contiguously in that order, `__metadata__` first with its keys sorted (the
/// reference leaves their order to a hash map), omitted when empty, and the header
/// padded with spaces to a multiple of 8 bytes so the data buffer starts aligned.
public enum SafeTensorsWriter {
    /// One tensor to write, in one of the element types this writer produces.
    public enum Tensor: Sendable, Equatable {
        case float32(ShapedArray<Float>)
        /// Integer buffers, e.g. PyTorch's BatchNorm `num_batches_tracked` (a scalar).
        case int64(ShapedArray<Int64>)

        public var dtype: SafeTensorsDType {
            switch self {
            case .float32: return .float32
            case .int64: return .int64
            }
        }

        public var shape: [Int] {
            switch self {
            case .float32(let array): return array.shape
            case .int64(let array): return array.shape
            }
        }

        var byteCount: Int {
            switch self {
            case .float32(let array): return 4 * array.values.count
            case .int64(let array): return 8 * array.values.count
            }
        }

        /// The values' little-endian bytes, handed to `body` in one piece.
        func withLittleEndianBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
            #if _endian(little)
            switch self {
            case .float32(let array): return array.values.withUnsafeBytes(body)
            case .int64(let array): return array.values.withUnsafeBytes(body)
            }
            #else
            var swapped: [UInt8] = []
            switch self {
            case .float32(let array): array.values.withUnsafeBytes { SafeTensorsWriter.appendLittleEndian32($0, to: &swapped) }
            case .int64(let array): for value in array.values { withUnsafeBytes(of: value.littleEndian) { swapped.append(contentsOf: $0) } }
            }
            return swapped.withUnsafeBytes(body)
            #endif
        }
    }

    /// The complete file as bytes (`F32` tensors only).
    public static func encode(
        _ tensors: [String: ShapedArray<Float>], metadata: [String: String] = [:]
    ) throws(SafeTensorsError) -> [UInt8] {
        try encode(tensors.mapValues { Tensor.float32($0) }, metadata: metadata)
    }

    /// The complete file as bytes, tensors of any type this writer produces.
    /// (Disfavoured so that an empty literal `[:]` still means the F32 overload.)
    @_disfavoredOverload
    public static func encode(
        _ tensors: [String: Tensor], metadata: [String: String] = [:]
    ) throws(SafeTensorsError) -> [UInt8] {
        let (header, ordered) = try prepare(tensors, metadata: metadata, path: "<memory>")
        let dataByteCount = ordered.reduce(0) { $0 + $1.tensor.byteCount }
        var output: [UInt8] = []
        output.reserveCapacity(header.count + dataByteCount)
        output.append(contentsOf: header)
        for (_, tensor) in ordered {
            tensor.withLittleEndianBytes { output.append(contentsOf: $0) }
        }
        return output
    }

    /// Writes the file at `path` atomically: a temporary file in the same directory,
    /// `fsync`, then `rename`. On failure any previous file at `path` is untouched.
    public static func write(
        _ tensors: [String: ShapedArray<Float>], metadata: [String: String] = [:], to path: String
    ) throws(SafeTensorsError) {
        try write(tensors.mapValues { Tensor.float32($0) }, metadata: metadata, to: path)
    }

    /// Writes tensors of any type this writer produces, atomically as above.
    @_disfavoredOverload
    public static func write(
        _ tensors: [String: Tensor], metadata: [String: String] = [:], to path: String
    ) throws(SafeTensorsError) {
        let (header, ordered) = try prepare(tensors, metadata: metadata, path: path)
        do {
            try FileBytes.writeAtomically(to: path) { sink in
                guard header.withUnsafeBytes({ sink($0) }) else { return }
                for (_, tensor) in ordered {
                    guard tensor.withLittleEndianBytes({ sink($0) }) else { return }
                }
            }
        } catch {
            throw SafeTensorsError(path: path, reason: .writeFailed(error.message))
        }
    }

    /// The 8-byte length prefix and padded JSON header, and the tensors in file order.
    static func prepare(
        _ tensors: [String: Tensor], metadata: [String: String], path: String
    ) throws(SafeTensorsError) -> (header: [UInt8], ordered: [(name: String, tensor: Tensor)]) {
        if tensors["__metadata__"] != nil {
            throw SafeTensorsError(path: path, reason: .reservedName("__metadata__"))
        }
        let ordered = tensors.map { (name: $0.key, tensor: $0.value) }
            .sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }

        var json: [UInt8] = [UInt8(ascii: "{")]
        var needsComma = false
        if !metadata.isEmpty {
            json.append(contentsOf: Array("\"__metadata__\":{".utf8))
            for (index, key) in metadata.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                if index > 0 { json.append(UInt8(ascii: ",")) }
                JSONLiteral.append(string: key, to: &json)
                json.append(UInt8(ascii: ":"))
                JSONLiteral.append(string: metadata[key]!, to: &json)
            }
            json.append(UInt8(ascii: "}"))
            needsComma = true
        }
        var offset = 0
        for (name, tensor) in ordered {
            if needsComma { json.append(UInt8(ascii: ",")) }
            needsComma = true
            let end = offset + tensor.byteCount
            JSONLiteral.append(string: name, to: &json)
            json.append(contentsOf: Array(":{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":".utf8))
            JSONLiteral.append(integers: tensor.shape, to: &json)
            json.append(contentsOf: Array(",\"data_offsets\":".utf8))
            JSONLiteral.append(integers: [offset, end], to: &json)
            json.append(UInt8(ascii: "}"))
            offset = end
        }
        json.append(UInt8(ascii: "}"))
        let padding = (8 - json.count % 8) % 8
        json.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padding))

        var header: [UInt8] = []
        header.reserveCapacity(8 + json.count)
        var length = UInt64(json.count)
        for _ in 0..<8 {
            header.append(UInt8(truncatingIfNeeded: length))
            length >>= 8
        }
        header.append(contentsOf: json)
        return (header, ordered)
    }

    fileprivate static func appendLittleEndian32(_ source: UnsafeRawBufferPointer, to output: inout [UInt8]) {
        #if _endian(little)
        output.append(contentsOf: source)
        #else
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: source.count))
        output.withUnsafeMutableBytes { destination in
            ElementDecoding.copyLittleEndian32(source, into: UnsafeMutableRawBufferPointer(rebasing: destination[start...]))
        }
        #endif
    }
}
