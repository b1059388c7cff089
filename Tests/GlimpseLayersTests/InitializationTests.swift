import GlimpseLayers
import GlimpseTensor
import GlimpseTestSupport
import Testing

@Suite("Initialization")
struct InitializationTests {
    static func identity(_ size: Int) -> Tensor {
        var identity = Tensor(zeros: [size, size])
        for index in 0..<size { identity[index, index] = 1 }
        return identity
    }

    @Test("orthogonal matrices have orthonormal columns when tall and orthonormal rows when wide",
          arguments: [(7, 3), (3, 7), (5, 5)])
    func orthogonal(rows: Int, columns: Int) {
        var generator = SeededGenerator(seed: 80)
        let matrix = Initialization.orthogonal(rows: rows, columns: columns, gain: 2, using: &generator)
        #expect(matrix.shape == [rows, columns])
        let gram = rows >= columns ? Tensor.matmul(matrix, matrix, transposeA: true)
                                   : Tensor.matmul(matrix, matrix, transposeB: true)
        assertClose(gram, Self.identity(min(rows, columns)).scaled(by: 4), absoluteTolerance: 1e-5,
                    name: "QᵀQ (or QQᵀ) with gain 2")
    }

    @Test("uniformFanIn draws from ±1/sqrt(fanIn) and fills the interval")
    func uniformFanIn() {
        var generator = SeededGenerator(seed: 81)
        let tensor = Initialization.uniformFanIn([1000], fanIn: 25, using: &generator)
        #expect(tensor.maxAbsolute() < 0.2 && tensor.maxAbsolute() > 0.19)
        #expect(abs(tensor.sum() / 1000) < 0.01)
    }
}
