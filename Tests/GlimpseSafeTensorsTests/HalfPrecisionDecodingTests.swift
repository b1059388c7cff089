import GlimpseSafeTensors
import Testing

/// F16 and BF16 values widen to `Float` exactly; the expected floats are given by
/// bit pattern so that signed zeros, subnormals, infinities and NaNs are compared exactly.
@Suite("Half-precision decoding")
struct HalfPrecisionDecodingTests {
    /// Reads one tensor of `dtype` holding `bits` and returns the float bit patterns.
    func decodedBits(_ bits: [UInt16], dtype: String) throws -> [UInt32] {
        let header = #"{"h":{"dtype":"\#(dtype)","shape":[\#(bits.count)],"data_offsets":[0,\#(2 * bits.count)]}}"#
        let file = try SafeTensorsFile(bytes: safetensorsBytes(header: header, data: littleEndianBytes(bits)))
        return try file.floats(named: "h").values.map(\.bitPattern)
    }

    @Test("F16 bit patterns", arguments: [
        (UInt16(0x0000), UInt32(0x0000_0000)),  // +0
        (0x8000, 0x8000_0000),                  // -0
        (0x3C00, 0x3F80_0000),                  // 1
        (0xC000, 0xC000_0000),                  // -2
        (0x3555, 0x3EAA_A000),                  // 0.333251953125, nearest to 1/3
        (0x7BFF, 0x477F_E000),                  // 65504, the largest finite
        (0x0400, 0x3880_0000),                  // 2^-14, the smallest normal
        (0x0001, 0x3380_0000),                  // 2^-24, the smallest subnormal
        (0x8001, 0xB380_0000),                  // -2^-24
        (0x03FF, 0x387F_C000),                  // 1023 * 2^-24, the largest subnormal
        (0x0200, 0x3800_0000),                  // 2^-15, a subnormal
        (0x7C00, 0x7F80_0000),                  // +infinity
        (0xFC00, 0xFF80_0000),                  // -infinity
        (0x7E00, 0x7FC0_0000),                  // quiet NaN
        (0xFE01, 0xFFC0_2000),                  // negative quiet NaN with payload
        (0x7C01, 0x7F80_2000),                  // signalling NaN: payload kept, not quietened
    ])
    func float16(bits: UInt16, expected: UInt32) throws {
        let decoded = try decodedBits([bits], dtype: "F16")
        #expect(decoded == [expected], "F16 0x\(String(bits, radix: 16))")
    }

    @Test("BF16 bit patterns", arguments: [
        (UInt16(0x0000), UInt32(0x0000_0000)),  // +0
        (0x8000, 0x8000_0000),                  // -0
        (0x3F80, 0x3F80_0000),                  // 1
        (0xC0A0, 0xC0A0_0000),                  // -5
        (0x3EAB, 0x3EAB_0000),                  // 0.333984375
        (0x7F7F, 0x7F7F_0000),                  // the largest finite
        (0x0080, 0x0080_0000),                  // 2^-126, the smallest normal
        (0x0001, 0x0001_0000),                  // 2^-133, the smallest subnormal
        (0x807F, 0x807F_0000),                  // the most negative subnormal
        (0x7F80, 0x7F80_0000),                  // +infinity
        (0xFF80, 0xFF80_0000),                  // -infinity
        (0x7FC0, 0x7FC0_0000),                  // quiet NaN
        (0x7F81, 0x7F81_0000),                  // signalling NaN, payload kept
    ])
    func bfloat16(bits: UInt16, expected: UInt32) throws {
        let decoded = try decodedBits([bits], dtype: "BF16")
        #expect(decoded == [expected], "BF16 0x\(String(bits, radix: 16))")
    }

    @Test("the subnormal and normal F16 values decode to their exact real values")
    func float16Values() throws {
        let decoded = try decodedBits([0x0001, 0x03FF, 0x0400, 0x3C01], dtype: "F16").map(Float.init(bitPattern:))
        #expect(decoded == [0x1p-24, 1023 * 0x1p-24, 0x1p-14, 1 + 0x1p-10])
    }

    #if !(os(macOS) && arch(x86_64))  // Swift has no Float16 on Intel Macs
    @Test("every one of the 65536 F16 patterns agrees with Swift's Float16 conversion")
    func float16Exhaustive() throws {
        let all = (0...UInt16.max).map { $0 }
        let decoded = try decodedBits(all, dtype: "F16")
        var mismatches: [String] = []
        for (bits, got) in zip(all, decoded) {
            let reference = Float(Float16(bitPattern: bits))
            let gotFloat = Float(bitPattern: got)
            // NaNs are compared by sign and NaN-ness: hardware conversion quietens them, we keep the payload.
            let agrees = reference.isNaN
                ? gotFloat.isNaN && gotFloat.sign == reference.sign
                : got == reference.bitPattern
            if !agrees { mismatches.append("0x\(String(bits, radix: 16)): \(gotFloat) vs \(reference)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, first: \(mismatches.prefix(5))")
    }
    #endif

    @Test("every BF16 pattern is the upper half of the float it decodes to")
    func bfloat16Exhaustive() throws {
        let all = (0...UInt16.max).map { $0 }
        let decoded = try decodedBits(all, dtype: "BF16")
        #expect(decoded == all.map { UInt32($0) << 16 })
    }

    @Test("I64 is read as Int64, and rounded to Float only on request")
    func int64() throws {
        let values: [Int64] = [.min, -1, 0, 42, 1 << 53 + 1, .max]
        let header = #"{"i":{"dtype":"I64","shape":[2,3],"data_offsets":[0,48]}}"#
        let file = try SafeTensorsFile(bytes: safetensorsBytes(header: header, data: littleEndianBytes(values)))
        #expect(try file.int64s(named: "i") == ShapedArray(shape: [2, 3], values: values))
        #expect(throws: SafeTensorsError(path: "<memory>", reason: .wrongDType(tensor: "i", dtype: .int64, expected: [.float32, .float16, .bfloat16]))) {
            try file.floats(named: "i")
        }
        let converted = try file.floats(named: "i", convertingIntegers: true)
        #expect(converted.shape == [2, 3])
        #expect(converted.values == [-0x1p63, -1, 0, 42, 0x1p53, 0x1p63])
    }
}
