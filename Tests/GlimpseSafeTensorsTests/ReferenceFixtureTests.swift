import Foundation
import GlimpseSafeTensors
import Testing

/// `Fixtures/reference.safetensors` was written by the reference implementation
/// (huggingface safetensors) through `Scripts/make_safetensors_fixture.py`, which also
/// wrote the expected values, as bit patterns, to `Fixtures/reference.expected.json`.
@Suite("Files written by the reference implementation")
struct ReferenceFixtureTests {
    struct Expected: Decodable {
        struct Tensor: Decodable {
            let dtype: String
            let shape: [Int]
            let float_bits: [String]?
            let int64: [String]?
        }
        let generator: String
        let metadata: [String: String]
        let tensors: [String: Tensor]
    }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    let file: SafeTensorsFile
    let expected: Expected

    init() throws {
        file = try SafeTensorsFile(contentsOf: Self.fixtures.appendingPathComponent("reference.safetensors").path)
        let json = try Data(contentsOf: Self.fixtures.appendingPathComponent("reference.expected.json"))
        expected = try JSONDecoder().decode(Expected.self, from: json)
    }

    @Test("metadata and the list of tensors")
    func listing() {
        #expect(file.metadata == expected.metadata)
        #expect(file.names == expected.tensors.keys.sorted())
        for entry in file.entries {
            #expect(entry.dtype.rawValue == expected.tensors[entry.name]?.dtype, "\(entry.name)")
            #expect(entry.shape == expected.tensors[entry.name]?.shape, "\(entry.name)")
        }
    }

    @Test("every value, bit for bit", arguments: ["f32", "f16", "bf16", "i64", "scalar", "empty"])
    func values(name: String) throws {
        let tensor = try #require(expected.tensors[name])
        if let bits = tensor.float_bits {
            let read = try file.floats(named: name)
            #expect(read.shape == tensor.shape)
            let wanted = bits.compactMap { UInt32($0.dropFirst(2), radix: 16) }
            #expect(wanted.count == bits.count)
            #expect(read.values.map(\.bitPattern) == wanted)
        }
        if let integers = tensor.int64 {
            let read = try file.int64s(named: name)
            #expect(read.shape == tensor.shape)
            #expect(read.values == integers.compactMap { Int64($0) })
        }
    }

    @Test("the reference lays tensors out by dtype alignment, not by name, and we read that too")
    func referenceOrder() throws {
        let i64 = try #require(file.entry(named: "i64"))
        #expect(i64.dataOffsets.lowerBound == 0)
    }
}
