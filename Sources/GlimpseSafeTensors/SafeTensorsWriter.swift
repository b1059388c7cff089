/// Writes `F32` tensors and a metadata map in the safetensors format.
///
/// Output is deterministic and byte-identical to the reference writer for the same
/// input: tensors sorted by name (byte order of their UTF-8) and laid out
/// contiguously in that order, `__metadata__` first with its keys sorted (the
/// reference leaves their order to a hash map), omitted when empty, and the header
/// padded with spaces to a multiple of 8 bytes so the data buffer starts aligned.
public enum SafeTensorsWriter {
    /// The complete file as bytes.
    public static func encode(
        _ tensors: [String: ShapedArray<Float>], metadata: [String: String] = [:]
    ) throws(SafeTensorsError) -> [UInt8] {
        let (header, ordered) = try prepare(tensors, metadata: metadata, path: "<memory>")
        let dataByteCount = ordered.reduce(0) { $0 + 4 * $1.tensor.values.count }
        var output: [UInt8] = []
        output.reserveCapacity(header.count + dataByteCount)
        output.append(contentsOf: header)
        for (_, tensor) in ordered {
            tensor.values.withUnsafeBytes { appendLittleEndian32($0, to: &output) }
        }
        return output
    }

    /// Writes the file at `path` atomically: a temporary file in the same directory,
    /// `fsync`, then `rename`. On failure any previous file at `path` is untouched.
    public static func write(
        _ tensors: [String: ShapedArray<Float>], metadata: [String: String] = [:], to path: String
    ) throws(SafeTensorsError) {
        let (header, ordered) = try prepare(tensors, metadata: metadata, path: path)
        try POSIXFile.writeAtomically(to: path) { sink in
            guard header.withUnsafeBytes({ sink($0) }) else { return }
            for (_, tensor) in ordered {
                #if _endian(little)
                guard tensor.values.withUnsafeBytes({ sink($0) }) else { return }
                #else
                var swapped: [UInt8] = []
                tensor.values.withUnsafeBytes { appendLittleEndian32($0, to: &swapped) }
                guard swapped.withUnsafeBytes({ sink($0) }) else { return }
                #endif
            }
        }
    }

    /// The 8-byte length prefix and padded JSON header, and the tensors in file order.
    static func prepare(
        _ tensors: [String: ShapedArray<Float>], metadata: [String: String], path: String
    ) throws(SafeTensorsError) -> (header: [UInt8], ordered: [(name: String, tensor: ShapedArray<Float>)]) {
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
                JSONWriter.appendString(key, to: &json)
                json.append(UInt8(ascii: ":"))
                JSONWriter.appendString(metadata[key]!, to: &json)
            }
            json.append(UInt8(ascii: "}"))
            needsComma = true
        }
        var offset = 0
        for (name, tensor) in ordered {
            if needsComma { json.append(UInt8(ascii: ",")) }
            needsComma = true
            let end = offset + 4 * tensor.values.count
            JSONWriter.appendString(name, to: &json)
            json.append(contentsOf: Array(":{\"dtype\":\"F32\",\"shape\":".utf8))
            JSONWriter.appendIntegers(tensor.shape, to: &json)
            json.append(contentsOf: Array(",\"data_offsets\":".utf8))
            JSONWriter.appendIntegers([offset, end], to: &json)
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

    private static func appendLittleEndian32(_ source: UnsafeRawBufferPointer, to output: inout [UInt8]) {
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
