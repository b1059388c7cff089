import GlimpseSafeTensors
import Testing

/// Seeded random damage to a valid file: every variant must be refused with a
/// `SafeTensorsError` or read as a valid file whose tensors all decode. A crash
/// (trap, overflow, out-of-bounds) fails the whole run.
@Suite("Corrupted files never crash the reader")
struct CorruptionTests {
    /// A small valid file mixing every decodable dtype, plus metadata.
    static let valid: [UInt8] = {
        let header = #"{"__metadata__":{"format":"pt"},"#
            + #""b":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"#
            + #""h":{"dtype":"F16","shape":[1,2],"data_offsets":[4,8]},"#
            + #""i":{"dtype":"I64","shape":[1],"data_offsets":[8,16]},"#
            + #""w":{"dtype":"F32","shape":[2,2],"data_offsets":[16,32]}}"#
        let data = littleEndianBytes([0x3F80, 0xC000] as [UInt16]) + littleEndianBytes([0x3C00, 0x0001] as [UInt16])
            + littleEndianBytes([-7] as [Int64]) + littleEndianBytes([1, 2, 3, 4] as [Float])
        return safetensorsBytes(header: header, data: data)
    }()

    /// Reads `bytes`; when that succeeds, decodes every tensor with the accessor for its dtype.
    /// Returns whether the file was accepted.
    func readFully(_ bytes: [UInt8]) -> Bool {
        guard let file = try? SafeTensorsFile(bytes: bytes) else { return false }
        for entry in file.entries {
            do {
                switch entry.dtype {
                case .int64:
                    let tensor = try file.int64s(named: entry.name)
                    #expect(tensor.values.count == entry.elementCount)
                case .float32, .float16, .bfloat16:
                    let tensor = try file.floats(named: entry.name)
                    #expect(tensor.values.count == entry.elementCount)
                default:
                    #expect(try file.rawBytes(named: entry.name).count == entry.dataOffsets.count)
                }
            } catch {
                Issue.record("\(entry.name) was listed but failed to decode: \(error)")
            }
        }
        return true
    }

    @Test("the undamaged file reads")
    func undamaged() {
        #expect(readFully(Self.valid))
    }

    @Test("400 seeded random corruptions", arguments: [UInt64(1), 2, 3, 4])
    func randomCorruptions(seed: UInt64) {
        var generator = SplitMix64(seed: seed)
        var accepted = 0
        for _ in 0..<100 {
            var bytes = Self.valid
            switch Int.random(in: 0..<5, using: &generator) {
            case 0:  // flip a few bits anywhere
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    let index = Int.random(in: 0..<bytes.count, using: &generator)
                    bytes[index] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &generator)
                }
            case 1:  // overwrite one byte with a JSON-significant or arbitrary byte
                let index = Int.random(in: 0..<bytes.count, using: &generator)
                let choices = Array("{}[]\":,-.0123456789eE\\ ".utf8) + [0x00, 0x80, 0xFF]
                bytes[index] = choices.randomElement(using: &generator)!
            case 2:  // truncate
                bytes.removeLast(Int.random(in: 1...bytes.count, using: &generator))
            case 3:  // insert random bytes
                let index = Int.random(in: 0...bytes.count, using: &generator)
                let inserted = (0..<Int.random(in: 1...8, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                bytes.insert(contentsOf: inserted, at: index)
            default:  // rewrite the length prefix
                let prefix = [UInt64.random(in: 0...UInt64.max, using: &generator), UInt64(bytes.count - 8 - 32 + Int.random(in: -3...3, using: &generator))]
                    .randomElement(using: &generator)!
                bytes.replaceSubrange(0..<8, with: lengthPrefix(prefix))
            }
            if readFully(bytes) { accepted += 1 }
        }
        // Most damage must be detected; some (a flipped mantissa bit) is undetectable by design.
        #expect(accepted < 25, "\(accepted) of 100 corrupted files were accepted")
    }
}
