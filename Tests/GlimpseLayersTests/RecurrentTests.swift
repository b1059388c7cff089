import Foundation
import GlimpseLayers
import GlimpseTensor
import GlimpseTestSupport
import Testing

@Suite("LSTMCell")
struct RecurrentTests {
    @Test("gate order is i, f, g, o, as PyTorch (pinned with hand-set weights)")
    func gateOrder() {
        // One input, one unit, x = 1 and no recurrent weight: each gate's
        // pre-activation is its row of W_ih, chosen so every gate has a distinct value:
        // σ(ln 3) = 0.75, σ(ln 1/3) = 0.25, tanh(atanh 0.5) = 0.5, σ(ln 4) = 0.8.
        let cell = LSTMCell(
            inputWeight: Tensor(shape: [4, 1], scalars: [Float(log(3.0)), Float(log(1.0 / 3)), Float(atanh(0.5)), 0]),
            recurrentWeight: Tensor(zeros: [4, 1]),
            inputBias: Tensor(zeros: [4]),
            recurrentBias: Tensor(shape: [4], scalars: [0, 0, 0, Float(log(4.0))])) // o's value via b_hh
        let state = LSTMCell.State(hidden: Tensor(shape: [1, 1], scalars: [0.3]),
                                   cell: Tensor(shape: [1, 1], scalars: [2]))
        let next = cell(Tensor(shape: [1, 1], scalars: [1]), state: state)
        // c' = f·c + i·g = 0.25·2 + 0.75·0.5; h' = o·tanh(c').
        let expectedCell: Float = 0.875
        assertClose(next.cell, Tensor(shape: [1, 1], scalars: [expectedCell]), name: "cell")
        assertClose(next.hidden, Tensor(shape: [1, 1], scalars: [0.8 * tanh(expectedCell)]), name: "hidden")
        #expect(LSTMCell.Gate.forget.range(hiddenSize: 5) == 5..<10)
    }

    @Test("default initialisation is U(-1/sqrt(H), 1/sqrt(H)) for all four tensors")
    func defaultInitialisation() {
        var generator = SeededGenerator(seed: 40)
        let cell = LSTMCell(inputSize: 3, hiddenSize: 16, using: &generator)
        for path in cell.parameterPaths {
            let tensor = cell[keyPath: path.parameter]
            #expect(tensor.maxAbsolute() <= 0.25, "\(path.name)")
            #expect(tensor.maxAbsolute() > 0.2, "\(path.name)")
        }
        #expect(cell.parameterPaths.map(\.name) == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"])
    }

    @Test("options: orthogonal recurrent gate blocks and forget-gate bias 1")
    func initialisationOptions() {
        var generator = SeededGenerator(seed: 41)
        let hiddenSize = 6
        let cell = LSTMCell(inputSize: 3, hiddenSize: hiddenSize,
                            options: .init(orthogonalRecurrentWeights: true, forgetGateBias: 1), using: &generator)
        var identity = Tensor(zeros: [hiddenSize, hiddenSize])
        for index in 0..<hiddenSize { identity[index, index] = 1 }
        for gate in LSTMCell.Gate.allCases {
            let block = cell.recurrentWeight.rows(gate.range(hiddenSize: hiddenSize))
            assertClose(Tensor.matmul(block, block, transposeB: true), identity, absoluteTolerance: 1e-5,
                        name: "W_hh block \(gate) · its transpose")
        }
        let effectiveBias = cell.inputBias + cell.recurrentBias
        #expect(effectiveBias.rows(LSTMCell.Gate.forget.range(hiddenSize: hiddenSize)) == Tensor(shape: [hiddenSize], repeating: 1))
        #expect(cell.inputBias.rows(0..<hiddenSize).maxAbsolute() > 0) // other gates keep their random bias
    }

    @Test("gradients of input, previous state and all parameters match central differences")
    func gradientCheck() {
        var generator = SeededGenerator(seed: 42)
        let (batchSize, inputSize, hiddenSize) = (2, 3, 4)
        let cell = LSTMCell(inputSize: inputSize, hiddenSize: hiddenSize, using: &generator)
        let input = Tensor(randomNormal: [batchSize, inputSize], using: &generator)
        let hidden = Tensor(randomNormal: [batchSize, hiddenSize], standardDeviation: 0.5, using: &generator)
        let cellState = Tensor(randomNormal: [batchSize, hiddenSize], using: &generator)
        let hiddenWeights = Tensor(randomNormal: [batchSize, hiddenSize], using: &generator)
        let cellWeights = Tensor(randomNormal: [batchSize, hiddenSize], using: &generator)

        func loss(_ cell: LSTMCell, _ input: Tensor, _ hidden: Tensor, _ cellState: Tensor) -> Double {
            let next = cell(input, state: .init(hidden: hidden, cell: cellState))
            return weightedSum(next.hidden, hiddenWeights) + weightedSum(next.cell, cellWeights)
        }
        let (_, cache) = cell.forward(input, state: .init(hidden: hidden, cell: cellState))
        var gradients = cell.zeroGradients()
        let (inputGradient, stateGradient) = cell.backward(.init(hidden: hiddenWeights, cell: cellWeights),
                                                           cache: cache, into: &gradients)
        let checker = GradientChecker()
        checker.check("input", analytic: inputGradient, at: input) { loss(cell, $0, hidden, cellState) }
        checker.check("hidden", analytic: stateGradient.hidden, at: hidden) { loss(cell, input, $0, cellState) }
        checker.check("cell", analytic: stateGradient.cell, at: cellState) { loss(cell, input, hidden, $0) }
        checker.checkParameters(of: cell, gradients: gradients) { loss($0, input, hidden, cellState) }
    }

    @Test("backpropagation through three steps matches central differences")
    func throughTime() {
        var generator = SeededGenerator(seed: 43)
        let cell = LSTMCell(inputSize: 2, hiddenSize: 3, using: &generator)
        let inputs = (0..<3).map { _ in Tensor(randomNormal: [2, 2], using: &generator) }
        let lossWeights = (0..<3).map { _ in Tensor(randomNormal: [2, 3], using: &generator) }

        func loss(_ cell: LSTMCell) -> Double {
            var state = LSTMCell.State.zeros(batchSize: 2, hiddenSize: 3)
            var total = 0.0
            for step in 0..<3 {
                state = cell(inputs[step], state: state)
                total += weightedSum(state.hidden, lossWeights[step])
            }
            return total
        }
        var state = LSTMCell.State.zeros(batchSize: 2, hiddenSize: 3)
        var caches: [LSTMCell.Cache] = []
        for step in 0..<3 {
            let (next, cache) = cell.forward(inputs[step], state: state)
            caches.append(cache)
            state = next
        }
        var gradients = cell.zeroGradients()
        var carried = LSTMCell.State.zeros(batchSize: 2, hiddenSize: 3)
        for step in (0..<3).reversed() {
            let (_, previous) = cell.backward(.init(hidden: carried.hidden + lossWeights[step], cell: carried.cell),
                                              cache: caches[step], into: &gradients)
            carried = previous
        }
        GradientChecker().checkParameters(of: cell, gradients: gradients) { loss($0) }
    }
}
