import GlimpseLayers
import GlimpseTensor
import GlimpseTestSupport
import Testing

@Suite("ReLU, MaxPool2d, Dropout")
struct ElementwiseLayerTests {
    @Test("ReLU zeroes negatives and passes gradient only where the output is positive")
    func relu() {
        let input = Tensor(shape: [4], scalars: [-1, 0, 2, -0.5])
        let (output, cache) = ReLU().forward(input)
        #expect(output == Tensor(shape: [4], scalars: [0, 0, 2, 0]))
        #expect(ReLU().backward(Tensor(shape: [4], scalars: [1, 2, 3, 4]), cache: cache)
            == Tensor(shape: [4], scalars: [0, 0, 3, 0]))
    }

    @Test("ReLU input gradient matches central differences away from the kink")
    func reluGradientCheck() {
        var generator = SeededGenerator(seed: 30)
        // Keep every input at least 0.1 from zero so no ±step perturbation crosses the kink.
        let input = Tensor(randomNormal: [2, 3, 5, 6], using: &generator).map { $0 + ($0 < 0 ? -0.1 : 0.1) }
        let lossWeights = Tensor(randomNormal: input.shape, using: &generator)
        let (_, cache) = ReLU().forward(input)
        let inputGradient = ReLU().backward(lossWeights, cache: cache)
        GradientChecker().check("input", analytic: inputGradient, at: input) { weightedSum(ReLU()($0), lossWeights) }
    }

    @Test("MaxPool2d 2x2 takes window maxima, floors odd sizes, and routes gradient to the argmax")
    func maxPool() {
        let input = Tensor(shape: [1, 1, 3, 4], scalars: [
            1, 5, 2, 2,
            3, 4, 2, 0,
            9, 9, 9, 9, // dropped: floor mode
        ])
        let pool = MaxPool2d()
        let (output, cache) = pool.forward(input)
        #expect(output == Tensor(shape: [1, 1, 1, 2], scalars: [5, 2]))
        let inputGradient = pool.backward(Tensor(shape: [1, 1, 1, 2], scalars: [10, 20]), cache: cache)
        // The tie among the 2s goes to the first in row-major order.
        #expect(inputGradient == Tensor(shape: [1, 1, 3, 4], scalars: [0, 10, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]))
    }

    @Test("MaxPool2d 2x2 on wide rows (sixteen windows at a time) keeps first-maximum ties and NaN, as the window loop")
    func maxPoolWideRows() {
        var generator = SeededGenerator(seed: 31)
        // 35 windows per row: two blocks of sixteen and three single windows; odd height and
        // width are floored. Values from a small set make ties frequent; a few NaN too.
        let (height, width) = (7, 71)
        var input = Tensor(randomUniform: [2, 3, height, width], in: 0..<4, using: &generator).map { $0.rounded(.down) }
        for flat in [5, 100, 101, 400, 1000] { input[flat: flat] = .nan }
        let (output, cache) = MaxPool2d().forward(input)
        #expect(output.shape == [2, 3, 3, 35])
        for plane in 0..<6 {
            for oy in 0..<3 {
                for ox in 0..<35 {
                    var best = (2 * oy) * width + 2 * ox
                    for (ky, kx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                        let index = (2 * oy + ky) * width + 2 * ox + kx
                        let value = input[flat: plane * height * width + index]
                        let bestValue = input[flat: plane * height * width + best]
                        if value > bestValue || value.isNaN && !bestValue.isNaN { best = index }
                    }
                    let outputIndex = (plane * 3 + oy) * 35 + ox
                    #expect(cache.argmax[outputIndex] == Int32(best), "plane \(plane) window (\(oy), \(ox))")
                    let expected = input[flat: plane * height * width + best], actual = output[flat: outputIndex]
                    #expect(expected == actual || expected.isNaN && actual.isNaN, "plane \(plane) window (\(oy), \(ox))")
                }
            }
        }
    }

    @Test("MaxPool2d input gradient matches central differences")
    func maxPoolGradientCheck() {
        var generator = SeededGenerator(seed: 31)
        // Distinct values 0.05 apart: a ±0.01 perturbation never changes which element wins.
        var values = (0..<(2 * 3 * 5 * 6)).map { Float($0) * 0.05 }
        generator.shuffle(&values)
        let input = Tensor(shape: [2, 3, 5, 6], scalars: values)
        let lossWeights = Tensor(randomNormal: [2, 3, 2, 3], using: &generator)
        let pool = MaxPool2d()
        let (_, cache) = pool.forward(input)
        let inputGradient = pool.backward(lossWeights, cache: cache)
        GradientChecker().check("input", analytic: inputGradient, at: input) { weightedSum(pool($0), lossWeights) }
    }

    @Test("Dropout keeps about 1 − p of the elements, scaled by 1/(1 − p), reproducibly")
    func dropoutTraining() {
        let dropout = Dropout(probability: 0.25)
        let input = Tensor(shape: [10_000], repeating: 1)
        var generator = SeededGenerator(seed: 32)
        let (output, cache) = dropout.forward(input, mode: .training, using: &generator)
        let kept = output.scalars.filter { $0 != 0 }
        #expect(kept.allSatisfy { $0 == Float(1) / 0.75 })
        #expect(abs(Double(kept.count) / 10_000 - 0.75) < 0.02)
        #expect(dropout.backward(input, cache: cache) == output) // the same mask scales the gradient

        var again = SeededGenerator(seed: 32)
        #expect(dropout.forward(input, mode: .training, using: &again).output == output)
    }

    @Test("Dropout is the identity in inference and draws nothing from the generator")
    func dropoutInference() {
        let dropout = Dropout(probability: 0.5)
        let input = Tensor(shape: [3], scalars: [1, 2, 3])
        var generator = SeededGenerator(seed: 33)
        let before = generator
        let (output, cache) = dropout.forward(input, mode: .inference, using: &generator)
        #expect(output == input && dropout(input) == input)
        #expect(generator == before)
        #expect(dropout.backward(input, cache: cache) == input)
        var all = SeededGenerator(seed: 34)
        #expect(Dropout(probability: 1).forward(input, mode: .training, using: &all).output == Tensor(zeros: [3]))
    }

    @Test("Dropout input gradient matches central differences with a fixed mask")
    func dropoutGradientCheck() {
        var generator = SeededGenerator(seed: 35)
        let dropout = Dropout(probability: 0.3)
        let input = Tensor(randomNormal: [2, 7], using: &generator)
        let lossWeights = Tensor(randomNormal: [2, 7], using: &generator)
        let maskState = generator.state
        var maskGenerator = SeededGenerator(state: maskState)
        let (_, cache) = dropout.forward(input, mode: .training, using: &maskGenerator)
        let inputGradient = dropout.backward(lossWeights, cache: cache)
        GradientChecker().check("input", analytic: inputGradient, at: input) { input in
            var sameMask = SeededGenerator(state: maskState)
            return weightedSum(dropout.forward(input, mode: .training, using: &sameMask).output, lossWeights)
        }
    }
}

@Suite("Embedding")
struct EmbeddingTests {
    @Test("looks up rows and scatter-adds gradients, twice for a repeated token")
    func lookupAndScatter() {
        let layer = Embedding(weight: Tensor(shape: [3, 2], scalars: [0, 1, 10, 11, 20, 21]))
        let (output, cache) = layer.forward([2, 0, 2])
        #expect(output == Tensor(shape: [3, 2], scalars: [20, 21, 0, 1, 20, 21]))
        var gradients = layer.zeroGradients()
        layer.backward(Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6]), cache: cache, into: &gradients)
        #expect(gradients.weight == Tensor(shape: [3, 2], scalars: [3, 4, 0, 0, 6, 8]))
    }

    @Test("initialises from N(0, 1), as PyTorch")
    func initialisation() {
        var generator = SeededGenerator(seed: 36)
        let layer = Embedding(vocabularySize: 100, embeddingSize: 50, using: &generator)
        let mean = layer.weight.sum() / 5000
        let variance = layer.weight.squaredNorm() / 5000 - mean * mean
        #expect(abs(mean) < 0.05 && abs(variance - 1) < 0.1)
    }

    @Test("weight gradient matches central differences")
    func gradientCheck() {
        var generator = SeededGenerator(seed: 37)
        let layer = Embedding(vocabularySize: 5, embeddingSize: 3, using: &generator)
        let tokens = [4, 1, 1, 0, 4, 2]
        let lossWeights = Tensor(randomNormal: [6, 3], using: &generator)
        let (_, cache) = layer.forward(tokens)
        var gradients = layer.zeroGradients()
        layer.backward(lossWeights, cache: cache, into: &gradients)
        GradientChecker().checkParameters(of: layer, gradients: gradients) { weightedSum($0(tokens), lossWeights) }
    }
}
