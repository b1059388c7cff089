import GlimpseSafeTensors
import Testing

@Suite("Writing I64 tensors beside F32 ones")
struct Int64WritingTests {
    let tensors: [String: SafeTensorsWriter.Tensor] = [
        "bn.num_batches_tracked": .int64(ShapedArray(shape: [], values: [7])),
        "bn.weight": .float32(ShapedArray(shape: [2], values: [1.5, -2])),
        "big": .int64(ShapedArray(shape: [1, 2], values: [-1, 1 << 40])),
    ]

    /// The bytes the reference writer gives for the same tensors, from
    /// `safetensors.numpy.save({...})` (safetensors 0.8.0): header, padding, data.
    static let referenceHeader = #"{"big":{"dtype":"I64","shape":[1,2],"data_offsets":[0,16]},"#
        + #""bn.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[16,24]},"#
        + #""bn.weight":{"dtype":"F32","shape":[2],"data_offsets":[24,32]}}   "#
    static let referenceData: [UInt8] = hexBytes("ffffffffffffffff000000000001000007000000000000000000c03f000000c0")

    static func hexBytes(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = [], characters = Array(text)
        while characters.count >= 2 {
            bytes.append(UInt8(String(characters[0..<2]), radix: 16)!)
            characters.removeFirst(2)
        }
        return bytes
    }

    @Test("mixed F32 and I64 tensors encode to the reference writer's bytes")
    func matchesReference() throws {
        let header = Array(Self.referenceHeader.utf8)
        var expected: [UInt8] = []
        var length = UInt64(header.count)
        for _ in 0..<8 { expected.append(UInt8(truncatingIfNeeded: length)); length >>= 8 }
        expected += header + Self.referenceData
        #expect(expected.count == 240)
        #expect(try SafeTensorsWriter.encode(tensors) == expected)
    }

    @Test("I64 values read back exactly, F32 ones bit for bit, from memory and from disk")
    func readsBack() throws {
        try withTemporaryDirectory { (directory: String) throws in
            let path = directory + "/state.safetensors"
            try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: path)
            for file in [try SafeTensorsFile(contentsOf: path),
                         try SafeTensorsFile(bytes: SafeTensorsWriter.encode(tensors, metadata: ["format": "pt"]))] {
                #expect(file.metadata == ["format": "pt"])
                #expect(file.entry(named: "bn.num_batches_tracked")?.dtype == .int64)
                #expect(try file.int64s(named: "bn.num_batches_tracked") == ShapedArray(shape: [], values: [7]))
                #expect(try file.int64s(named: "big") == ShapedArray(shape: [1, 2], values: [-1, 1 << 40]))
                #expect(try file.floats(named: "bn.weight") == ShapedArray(shape: [2], values: [1.5, -2]))
            }
        }
    }

    @Test("F32-only input gives the same bytes through either entry point")
    func float32Unchanged() throws {
        let floats: [String: ShapedArray<Float>] = ["a": ShapedArray(shape: [3], values: [1, 2, 3]), "b": ShapedArray(shape: [], values: [0.5])]
        #expect(try SafeTensorsWriter.encode(floats, metadata: ["k": "v"])
            == SafeTensorsWriter.encode(floats.mapValues { .float32($0) }, metadata: ["k": "v"]))
    }
}
