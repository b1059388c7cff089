import GlimpseTensor
import GlimpseTestSupport
import Testing

/// C = alpha·op(A)·op(B) + beta·C with plain loops in Double: the definition sgemm must meet.
func naiveGemm(_ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool,
               alpha: Float, beta: Float, c: Tensor) -> Tensor {
    let opA = transposeA ? a.transposed() : a
    let opB = transposeB ? b.transposed() : b
    let (m, k, n) = (opA.shape[0], opA.shape[1], opB.shape[1])
    var result = c
    for row in 0..<m {
        for column in 0..<n {
            var total = 0.0
            for inner in 0..<k { total += Double(opA[row, inner]) * Double(opB[inner, column]) }
            result[row, column] = Float(Double(alpha) * total + Double(beta) * Double(c[row, column]))
        }
    }
    return result
}

@Suite("BLAS")
struct BLASTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var transposeA: Bool, transposeB: Bool
        var testDescription: String { "A\(transposeA ? "ᵀ" : "")·B\(transposeB ? "ᵀ" : "")" }
    }

    static let cases = [Case(transposeA: false, transposeB: false), Case(transposeA: true, transposeB: false),
                        Case(transposeA: false, transposeB: true), Case(transposeA: true, transposeB: true)]

    @Test("matmul and accumulating addMatmul agree with a naive loop", arguments: cases)
    func sgemmMatchesNaive(testCase: Case) {
        var generator = SeededGenerator(seed: 1)
        let (m, k, n) = (5, 7, 3)
        let a = Tensor(randomNormal: testCase.transposeA ? [k, m] : [m, k], using: &generator)
        let b = Tensor(randomNormal: testCase.transposeB ? [n, k] : [k, n], using: &generator)
        let c = Tensor(randomNormal: [m, n], using: &generator)

        let product = Tensor.matmul(a, b, transposeA: testCase.transposeA, transposeB: testCase.transposeB)
        assertClose(product, naiveGemm(a, b, transposeA: testCase.transposeA, transposeB: testCase.transposeB,
                                       alpha: 1, beta: 0, c: Tensor(zeros: [m, n])),
                    absoluteTolerance: 1e-5, name: "product")

        var accumulated = c
        accumulated.addMatmul(a, b, transposeA: testCase.transposeA, transposeB: testCase.transposeB,
                              alpha: 0.5, beta: 1)
        assertClose(accumulated, naiveGemm(a, b, transposeA: testCase.transposeA, transposeB: testCase.transposeB,
                                           alpha: 0.5, beta: 1, c: c),
                    absoluteTolerance: 1e-5, name: "C + 0.5·A·B")
    }

    @Test("sgemm honours leading dimensions: a sub-block of a wider matrix")
    func leadingDimensions() {
        // A is the left 2x3 block of a 2x5 buffer, C the right 2x2 block of a 2x4 buffer.
        let wideA: [Float] = [1, 2, 3, 99, 99, 4, 5, 6, 99, 99]
        let b: [Float] = [1, 0, 0, 1, 1, 1] // [3, 2]
        var wideC: [Float] = [7, 7, 0, 0, 7, 7, 0, 0]
        wideA.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                wideC.withUnsafeMutableBufferPointer { c in
                    BLAS.sgemm(transposeA: false, transposeB: false, m: 2, n: 2, k: 3,
                               a: a.baseAddress!, lda: 5, b: b.baseAddress!, ldb: 2,
                               c: c.baseAddress! + 2, ldc: 4)
                }
            }
        }
        #expect(wideC == [7, 7, 4, 5, 7, 7, 10, 11])
    }

    @Test("an empty inner extent scales C by beta")
    func emptyInner() {
        var c = Tensor(shape: [2, 2], repeating: 3)
        c.addMatmul(Tensor(zeros: [2, 0]), Tensor(zeros: [0, 2]), beta: 0.5)
        #expect(c == Tensor(shape: [2, 2], repeating: 1.5))
    }

    @Test("the OpenBLAS thread count can be set and read back")
    func threads() {
        let original = BLAS.threadCount
        BLAS.threadCount = 1
        #expect(BLAS.threadCount == 1)
        BLAS.threadCount = original
    }
}
