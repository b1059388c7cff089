import GlimpseTensor
import GlimpseTestSupport
import Testing

@Suite("Tensor")
struct TensorTests {
    @Test("initialisers fill row-major storage; scalar subscripts index it")
    func initialisers() {
        let tensor = Tensor(shape: [2, 3], scalars: [0, 1, 2, 10, 11, 12])
        #expect(tensor.shape == [2, 3] && tensor.scalarCount == 6 && tensor.rank == 2)
        #expect(tensor[1, 2] == 12 && tensor[flat: 3] == 10)
        #expect(Tensor(zeros: [2, 2]).scalars == [0, 0, 0, 0])
        #expect(Tensor(shape: [3], repeating: 7).scalars == [7, 7, 7])
        #expect(Tensor(shape: [], scalars: [5]).scalarCount == 1) // a rank-0 scalar
        #expect(Tensor(zeros: [0, 4]).scalarCount == 0)
    }

    @Test("equality is exact: shape and every scalar")
    func equality() {
        let a = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])
        #expect(a == Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]))
        #expect(a != a.reshaped(to: [4]))
        #expect(a != Tensor(shape: [2, 2], scalars: [1, 2, 3, 4.000001]))
        let withNaN = Tensor(shape: [1], scalars: [.nan])
        #expect(withNaN != withNaN)
    }

    @Test("copies share storage until one is written; the other keeps its values")
    func copyOnWrite() {
        let original = Tensor(shape: [3], scalars: [1, 2, 3])
        var copy = original
        #expect(copy.sharesStorage(with: original))
        copy[flat: 0] = 100
        #expect(!copy.sharesStorage(with: original))
        #expect(original.scalars == [1, 2, 3] && copy.scalars == [100, 2, 3])

        // Every mutating path goes through ensureUnique().
        var added = original
        added += Tensor(shape: [3], repeating: 1)
        var scaled = original
        scaled.scale(by: 2)
        var filled = original
        filled.zero()
        var viaPointer = original
        viaPointer.withUnsafeMutableBufferPointer { $0[1] = -1 }
        #expect(original.scalars == [1, 2, 3])
        #expect(added.scalars == [2, 3, 4] && scaled.scalars == [2, 4, 6] && filled.scalars == [0, 0, 0])
        #expect(viaPointer.scalars == [1, -1, 3])

        // A reshaped view is a copy too: writing to it leaves the source alone.
        var view = original.reshaped(to: [1, 3])
        #expect(view.sharesStorage(with: original))
        view[0, 2] = 9
        #expect(original.scalars == [1, 2, 3])
    }

    @Test("a uniquely held tensor is written in place, without copying")
    func uniqueWritesInPlace() {
        var tensor = Tensor(shape: [4], scalars: [1, 2, 3, 4])
        let address = tensor.withUnsafeBufferPointer { $0.baseAddress }
        tensor.scale(by: 3)
        tensor.ensureUnique()
        #expect(tensor.withUnsafeBufferPointer { $0.baseAddress } == address)
        #expect(Int(bitPattern: address) % 64 == 0) // storage is cache-line aligned
    }

    @Test("reshape keeps the scalars and infers one -1 extent")
    func reshape() {
        let tensor = Tensor(shape: [2, 3, 4], initializingWith: { for index in 0..<$0.count { $0[index] = Float(index) } })
        let reshaped = tensor.reshaped(to: [6, -1])
        #expect(reshaped.shape == [6, 4] && reshaped.scalars == tensor.scalars)
        var inPlace = tensor
        inPlace.reshape(to: [24])
        #expect(inPlace.shape == [24])
    }

    @Test("elementwise arithmetic, fused forms and map")
    func arithmetic() {
        let a = Tensor(shape: [3], scalars: [1, 2, 3])
        let b = Tensor(shape: [3], scalars: [4, 5, 6])
        #expect((a + b).scalars == [5, 7, 9])
        #expect((b - a).scalars == [3, 3, 3])
        #expect((a * b).scalars == [4, 10, 18])
        #expect((a * 2).scalars == [2, 4, 6] && (2 * a).scalars == [2, 4, 6])
        var c = a
        c.add(b, scaledBy: -0.5)
        #expect(c.scalars == [-1, -0.5, 0])
        c.addProduct(a, b)
        #expect(c.scalars == [3, 9.5, 18])
        #expect(a.map { $0 * $0 }.scalars == [1, 4, 9])
        #expect(a.zipMap(b, max).scalars == [4, 5, 6])
        var d = a
        d.apply { -$0 }
        d -= a
        #expect(d.scalars == [-2, -4, -6])
    }

    @Test("reductions: totals in Double, sums over chosen axes")
    func reductions() {
        let tensor = Tensor(shape: [2, 3, 2], initializingWith: { for index in 0..<$0.count { $0[index] = Float(index) } })
        #expect(tensor.sum() == 66)
        #expect(tensor.squaredNorm() == (0..<12).reduce(0) { $0 + Double($1 * $1) })
        #expect(tensor.dot(Tensor(shape: [2, 3, 2], repeating: 2)) == 132)
        #expect(tensor.sum(alongAxis: 0) == Tensor(shape: [3, 2], scalars: [6, 8, 10, 12, 14, 16]))
        #expect(tensor.sum(alongAxis: 1) == Tensor(shape: [2, 2], scalars: [6, 9, 24, 27]))
        #expect(tensor.sum(alongAxis: 2) == Tensor(shape: [2, 3], scalars: [1, 5, 9, 13, 17, 21]))
        // Per-channel sums of an NCHW tensor, as BatchNorm and bias gradients need.
        #expect(tensor.sum(alongAxes: [0, 2]) == Tensor(shape: [3], scalars: [14, 22, 30]))
        #expect(Tensor(shape: [3], scalars: [1, -5, 2]).maxAbsolute() == 5)
        // Small terms survive a large total.
        var mixed = Tensor(shape: [1 + 1_000], repeating: 1e-4)
        mixed[flat: 0] = 1e4
        #expect(abs(mixed.sum() - (1e4 + 0.1)) < 1e-6)
    }

    @Test("rows are copied out, written back and concatenated along the first axis")
    func rows() {
        let tensor = Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6])
        #expect(tensor.rows(1..<3) == Tensor(shape: [2, 2], scalars: [3, 4, 5, 6]))
        #expect(tensor.row(0) == Tensor(shape: [2], scalars: [1, 2]))
        var target = Tensor(zeros: [3, 2])
        target.setRows(startingAt: 1, to: tensor.rows(0..<2))
        #expect(target.scalars == [0, 0, 1, 2, 3, 4])
        #expect(Tensor.concatenatingRows([tensor.rows(2..<3), tensor.rows(0..<1)]).scalars == [5, 6, 1, 2])
        #expect(tensor.transposed() == Tensor(shape: [2, 3], scalars: [1, 3, 5, 2, 4, 6]))
    }

    @Test("matrices join side by side and split back by columns")
    func columns() {
        let left = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])
        let right = Tensor(shape: [2, 1], scalars: [5, 6])
        let joined = Tensor.concatenatingColumns([left, right])
        #expect(joined == Tensor(shape: [2, 3], scalars: [1, 2, 5, 3, 4, 6]))
        #expect(joined.columns(0..<2) == left && joined.columns(2..<3) == right)
    }
}
