import GlimpseLayers
import GlimpseTensor
import GlimpseTestSupport
import Testing

@Suite("BatchNorm2d")
struct NormalizationTests {
    // Channel 0 holds 1, 2, 3, 4 and channel 1 holds 0, 0, 2, 6 across a batch of two 1x2 images.
    static let input = Tensor(shape: [2, 2, 1, 2], scalars: [1, 2, 0, 0, 3, 4, 2, 6])

    @Test("training normalises with batch mean and biased variance")
    func trainingOutput() {
        var layer = BatchNorm2d(channels: 2)
        let (output, _) = layer.forward(Self.input, mode: .training)
        // Channel 0: mean 2.5, biased variance 1.25. Channel 1: mean 2, biased variance 6.
        let s0 = 1 / Float(1.25 + 1e-5).squareRoot(), s1 = 1 / Float(6 + 1e-5).squareRoot()
        let expected = Tensor(shape: [2, 2, 1, 2], scalars: [
            -1.5 * s0, -0.5 * s0, -2 * s1, -2 * s1,
            0.5 * s0, 1.5 * s0, 0 * s1, 4 * s1,
        ])
        assertClose(output, expected, name: "output")
    }

    @Test("training moves running mean and unbiased running variance by momentum 0.1")
    func runningStatistics() {
        var layer = BatchNorm2d(channels: 2)
        _ = layer.forward(Self.input, mode: .training)
        // running_mean = 0.9·0 + 0.1·mean; running_var = 0.9·1 + 0.1·var·n/(n−1), n = 4.
        assertClose(layer.runningMean, Tensor(shape: [2], scalars: [0.25, 0.2]), name: "running_mean")
        assertClose(layer.runningVariance, Tensor(shape: [2], scalars: [0.9 + 0.1 * 5 / 3, 0.9 + 0.1 * 8]),
                    name: "running_var")
        _ = layer.forward(Self.input, mode: .training)
        assertClose(layer.runningMean, Tensor(shape: [2], scalars: [0.9 * 0.25 + 0.25, 0.9 * 0.2 + 0.2]),
                    name: "running_mean after two steps")
        #expect(layer.bufferPaths.map(\.name) == ["running_mean", "running_var"])
    }

    @Test("inference uses the running statistics and changes nothing")
    func inference() {
        var layer = BatchNorm2d(channels: 2)
        layer.runningMean = Tensor(shape: [2], scalars: [1, -1])
        layer.runningVariance = Tensor(shape: [2], scalars: [4, 0.25])
        layer.weight = Tensor(shape: [2], scalars: [2, 1])
        layer.bias = Tensor(shape: [2], scalars: [0, 10])
        let before = layer
        let (output, _) = layer.forward(Self.input, mode: .inference)
        #expect(layer.runningMean == before.runningMean && layer.runningVariance == before.runningVariance)
        #expect(output == layer(Self.input))
        let s0 = 2 / Float(4 + 1e-5).squareRoot(), s1 = 1 / Float(0.25 + 1e-5).squareRoot()
        assertClose(output, Tensor(shape: [2, 2, 1, 2], scalars: [
            0 * s0, 1 * s0, 10 + 1 * s1, 10 + 1 * s1,
            2 * s0, 3 * s0, 10 + 3 * s1, 10 + 7 * s1,
        ]), name: "output")
    }

    @Test("a large mean does not cost precision: the output has mean 0 and variance 1 per channel")
    func largeMean() {
        var generator = SeededGenerator(seed: 21)
        var layer = BatchNorm2d(channels: 2)
        let input = Tensor(randomNormal: [4, 2, 8, 8], mean: 1000, standardDeviation: 0.5, using: &generator)
        let (output, _) = layer.forward(input, mode: .training)
        for channel in 0..<2 {
            var values = [Double]()
            for image in 0..<4 { for y in 0..<8 { for x in 0..<8 { values.append(Double(output[image, channel, y, x])) } } }
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
            #expect(abs(mean) < 1e-3 && abs(variance - 1) < 1e-3, "channel \(channel): mean \(mean), variance \(variance)")
        }
    }

    @Test("gradients of input, weight and bias match central differences", arguments: [Mode.training, .inference])
    func gradientCheck(mode: Mode) {
        var generator = SeededGenerator(seed: 20)
        var layer = BatchNorm2d(channels: 3)
        layer.weight = Tensor(randomUniform: [3], in: 0.5..<1.5, using: &generator)
        layer.bias = Tensor(randomNormal: [3], using: &generator)
        layer.runningMean = Tensor(randomNormal: [3], using: &generator)
        layer.runningVariance = Tensor(randomUniform: [3], in: 0.5..<2, using: &generator)
        let input = Tensor(randomNormal: [2, 3, 5, 6], mean: 0.5, standardDeviation: 2, using: &generator)
        let lossWeights = Tensor(randomNormal: input.shape, using: &generator)
        var forwardLayer = layer
        let (_, cache) = forwardLayer.forward(input, mode: mode)
        var gradients = layer.zeroGradients()
        let inputGradient = layer.backward(lossWeights, cache: cache, into: &gradients)

        func loss(_ layer: BatchNorm2d, _ input: Tensor) -> Double {
            var copy = layer
            return weightedSum(copy.forward(input, mode: mode).output, lossWeights)
        }
        let checker = GradientChecker()
        checker.check("input", analytic: inputGradient, at: input) { loss(layer, $0) }
        checker.checkParameters(of: layer, gradients: gradients) { loss($0, input) }
    }

    @Test("the fused backward in place gives exactly the values and parameter gradients of the allocating one; a shared gradient is copied first")
    func backwardInPlace() {
        var generator = SeededGenerator(seed: 21)
        var layer = BatchNorm2d(channels: 3)
        layer.weight = Tensor(randomUniform: [3], in: 0.5..<1.5, using: &generator)
        layer.bias = Tensor(randomNormal: [3], using: &generator)
        // 5 x 7 planes: SIMD blocks of 16 and a scalar tail, across image boundaries.
        let input = Tensor(randomNormal: [2, 3, 5, 7], mean: 0.2, standardDeviation: 1.5, using: &generator)
        let (output, cache) = layer.forwardThenReLU(input, mode: .training)
        let outputGradient = Tensor(randomNormal: input.shape, using: &generator)
        let originalScalars = outputGradient.scalars

        var expectedGradients = layer.zeroGradients()
        let expected = layer.backwardThroughReLU(outputGradient, reluOutput: output, cache: cache,
                                                 into: &expectedGradients)
        var inPlace = outputGradient // shares storage with outputGradient until written
        var gradients = layer.zeroGradients()
        layer.backwardThroughReLU(inPlace: &inPlace, reluOutput: output, cache: cache, into: &gradients)

        #expect(inPlace.scalars.map(\.bitPattern) == expected.scalars.map(\.bitPattern))
        #expect(gradients.weight.scalars.map(\.bitPattern) == expectedGradients.weight.scalars.map(\.bitPattern))
        #expect(gradients.bias.scalars.map(\.bitPattern) == expectedGradients.bias.scalars.map(\.bitPattern))
        #expect(outputGradient.scalars.map(\.bitPattern) == originalScalars.map(\.bitPattern),
                "the shared gradient was written")
    }
}
