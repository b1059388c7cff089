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

    @Test("products of 1 to 4 rows, or of one column (run as matrix-vector products), agree with a naive loop",
          arguments: cases, [(1, 9, 6), (2, 9, 6), (3, 9, 6), (4, 9, 6), (8, 9, 1), (1, 9, 1)])
    func matrixVectorShapes(testCase: Case, shape: (m: Int, k: Int, n: Int)) {
        var generator = SeededGenerator(seed: 2)
        let (m, k, n) = shape
        let a = Tensor(randomNormal: testCase.transposeA ? [k, m] : [m, k], using: &generator)
        let b = Tensor(randomNormal: testCase.transposeB ? [n, k] : [k, n], using: &generator)
        let c = Tensor(randomNormal: [m, n], using: &generator)
        var accumulated = c
        accumulated.addMatmul(a, b, transposeA: testCase.transposeA, transposeB: testCase.transposeB,
                              alpha: 0.5, beta: 1)
        assertClose(accumulated, naiveGemm(a, b, transposeA: testCase.transposeA, transposeB: testCase.transposeB,
                                           alpha: 0.5, beta: 1, c: c),
                    absoluteTolerance: 1e-5, name: "C + 0.5·A·B, \(m)x\(k)x\(n)")
        // beta 0 ignores C entirely, even NaNs left in it (pooled buffers are not cleared).
        var product = [Float](repeating: .nan, count: m * n)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                product.withUnsafeMutableBufferPointer { c in
                    BLAS.sgemm(transposeA: testCase.transposeA, transposeB: testCase.transposeB, m: m, n: n, k: k,
                               a: a.baseAddress!, lda: testCase.transposeA ? m : k,
                               b: b.baseAddress!, ldb: testCase.transposeB ? k : n, c: c.baseAddress!, ldc: n)
                }
            }
        }
        assertClose(Tensor(shape: [m, n], scalars: product),
                    naiveGemm(a, b, transposeA: testCase.transposeA, transposeB: testCase.transposeB, alpha: 1, beta: 0,
                              c: Tensor(zeros: [m, n])),
                    absoluteTolerance: 1e-5, name: "A·B over NaNs, \(m)x\(k)x\(n)")
    }

    @Test("one-row and one-column products honour leading dimensions and strided rows of op(A)")
    func matrixVectorLeadingDimensions() {
        // Aᵀ: A is [k = 3, m = 1] inside a 3x4 buffer (column 1); B [3, 2] inside a 3x5 buffer;
        // C one row inside a 1x6 buffer at column 2.
        let wideA: [Float] = [0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0]
        let wideB: [Float] = [1, 10, 9, 9, 9, 2, 20, 9, 9, 9, 3, 30, 9, 9, 9]
        var wideC: [Float] = [5, 5, 0, 0, 5, 5]
        wideA.withUnsafeBufferPointer { a in
            wideB.withUnsafeBufferPointer { b in
                wideC.withUnsafeMutableBufferPointer { c in
                    BLAS.sgemm(transposeA: true, transposeB: false, m: 1, n: 2, k: 3, a: a.baseAddress! + 1, lda: 4,
                               b: b.baseAddress!, ldb: 5, c: c.baseAddress! + 2, ldc: 6)
                }
            }
        }
        #expect(wideC == [5, 5, 14, 140, 5, 5]) // [1 2 3]·[[1 10] [2 20] [3 30]]
        // One column: C[:, 0] of a [2, 3] buffer = A [2, 3] · (column 0 of B [3, 2] in a 3x5 buffer).
        var tallC: [Float] = [7, 7, 7, 7, 7, 7]
        let a: [Float] = [1, 1, 1, 0, 1, 0]
        a.withUnsafeBufferPointer { a in
            wideB.withUnsafeBufferPointer { b in
                tallC.withUnsafeMutableBufferPointer { c in
                    BLAS.sgemm(transposeA: false, transposeB: false, m: 2, n: 1, k: 3, a: a.baseAddress!, lda: 3,
                               b: b.baseAddress!, ldb: 5, c: c.baseAddress!, ldc: 3)
                }
            }
        }
        #expect(tallC == [6, 7, 7, 2, 7, 7])
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
