/// Bulk conversion of little-endian tensor bytes into Swift arrays. Each decoder
/// fills an uninitialised array in one pass (a `memcpy` where the host layout
/// matches the file), never appending element by element.
enum ElementDecoding {
    /// The exact `Float` of an IEEE 754 binary16 bit pattern. Subnormals become
    /// normal floats; infinities keep their sign; NaNs keep sign and payload
    /// (shifted into the float's mantissa), unquietened.
    @inline(__always)
    static func float(fromFloat16Bits bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = UInt32(bits >> 10) & 0x1F
        let mantissa = UInt32(bits & 0x3FF)
        if exponent == 0x1F {
            return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)
        }
        if exponent == 0 {
            // mantissa * 2^-24; both factors and the product are exact in Float.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        }
        // Rebias the exponent from 15 to 127.
        return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
    }

    /// The exact `Float` of a bfloat16 bit pattern: its upper 16 bits.
    @inline(__always)
    static func float(fromBFloat16Bits bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// Decodes `count` elements of `dtype` starting at `bytes[offset]` into floats.
    /// `dtype` must be F32, F16, BF16 or I64 and the range must lie inside `bytes`
    /// (both guaranteed by the validated header).
    static func floats(_ bytes: [UInt8], offset: Int, count: Int, dtype: SafeTensorsDType) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { destination, initialized in
            decodeFloats(bytes, offset: offset, count: count, dtype: dtype, into: destination)
            initialized = count
        }
    }

    /// `floats`, written into `destination` (at least `count` floats) instead of a new array.
    static func decodeFloats(_ bytes: [UInt8], offset: Int, count: Int, dtype: SafeTensorsDType,
                             into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(offset >= 0 && count >= 0 && offset + count * dtype.byteCount <= bytes.count,
                     "tensor range outside the file; the header was not validated")
        precondition(destination.count >= count, "destination holds \(destination.count) floats, needs \(count)")
        bytes.withUnsafeBytes { file in
            let source = UnsafeRawBufferPointer(rebasing: file[offset..<(offset + count * dtype.byteCount)])
            switch dtype {
            case .float32:
                copyLittleEndian32(source, into: UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(destination)[..<(4 * count)]))
            case .float16:
                for index in 0..<count {
                    let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self))
                    destination[index] = float(fromFloat16Bits: bits)
                }
            case .bfloat16:
                for index in 0..<count {
                    let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self))
                    destination[index] = float(fromBFloat16Bits: bits)
                }
            case .int64:
                for index in 0..<count {
                    let value = Int64(littleEndian: source.loadUnaligned(fromByteOffset: 8 * index, as: Int64.self))
                    destination[index] = Float(value)
                }
            default:
                preconditionFailure("\(dtype) does not decode to Float")
            }
        }
    }

    /// Decodes `count` little-endian Int64 values starting at `bytes[offset]`.
    static func int64s(_ bytes: [UInt8], offset: Int, count: Int) -> [Int64] {
        precondition(offset >= 0 && count >= 0 && offset + count * 8 <= bytes.count,
                     "tensor range outside the file; the header was not validated")
        return bytes.withUnsafeBytes { file in
            let source = UnsafeRawBufferPointer(rebasing: file[offset..<(offset + count * 8)])
            return [Int64](unsafeUninitializedCapacity: count) { destination, initialized in
                #if _endian(little)
                UnsafeMutableRawBufferPointer(destination).copyMemory(from: source)
                #else
                for index in 0..<count {
                    destination[index] = Int64(littleEndian: source.loadUnaligned(fromByteOffset: 8 * index, as: Int64.self))
                }
                #endif
                initialized = count
            }
        }
    }

    /// Copies 4-byte little-endian words into host order (a plain copy on little-endian hosts).
    static func copyLittleEndian32(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) {
        #if _endian(little)
        destination.copyMemory(from: source)
        #else
        for index in 0..<(source.count / 4) {
            let word = UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self))
            destination.storeBytes(of: word, toByteOffset: 4 * index, as: UInt32.self)
        }
        #endif
    }
}
