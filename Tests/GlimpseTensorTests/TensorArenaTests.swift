import GlimpseTensor
import Testing

@Suite("TensorArena (a checkpoint's tensors in one allocation)")
struct TensorArenaTests {
    @Test("tensors made in an arena hold their values, 64-byte aligned, and outlive the arena object")
    func valuesAndLifetime() {
        var tensors: [Tensor] = []
        do {
            let arena = TensorArena(counts: [3, 1000, 1])
            tensors.append(arena.tensor(shape: [3]) { $0.update(from: [1, 2, 3]) })
            tensors.append(arena.tensor(shape: [10, 100]) { for index in $0.indices { $0[index] = Float(index) } })
            tensors.append(arena.tensor(shape: []) { $0[0] = 7 })
        }
        #expect(tensors[0].scalars == [1, 2, 3])
        #expect(tensors[1].scalars == (0..<1000).map(Float.init))
        #expect(tensors[2].scalars == [7])
        for tensor in tensors {
            tensor.withUnsafeBufferPointer { #expect(Int(bitPattern: $0.baseAddress!) % 64 == 0) }
        }
    }

    @Test("copy-on-write as any tensor: a shared arena tensor is copied before a write, a unique one written in place")
    func copyOnWrite() {
        let arena = TensorArena(counts: [4, 4])
        let original = arena.tensor(shape: [4]) { $0.update(from: [1, 2, 3, 4]) }
        var copy = original
        copy[flat: 0] = 10
        #expect(original.scalars == [1, 2, 3, 4])
        #expect(copy.scalars == [10, 2, 3, 4])
        #expect(!copy.sharesStorage(with: original))

        var unique = arena.tensor(shape: [2, 2]) { $0.update(from: [5, 6, 7, 8]) }
        let address = unique.withUnsafeBufferPointer { $0.baseAddress! }
        unique[flat: 3] = 0
        #expect(unique.withUnsafeBufferPointer { $0.baseAddress! } == address)
        #expect(unique.scalars == [5, 6, 7, 0])
    }
}
