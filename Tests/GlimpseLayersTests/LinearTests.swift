import GlimpseLayers
import GlimpseTensor
import GlimpseTestSupport
import Testing

@Suite("Linear")
struct LinearTests {
    @Test("computes x Wᵀ + b for every row")
    func forwardMatchesDefinition() {
        let layer = Linear(weight: Tensor(shape: [2, 3], scalars: [1, 2, 3, -1, 0, 1]),
                           bias: Tensor(shape: [2], scalars: [0.5, -0.5]))
        let input = Tensor(shape: [2, 3], scalars: [1, 1, 1, 2, 0, -1])
        #expect(layer(input) == Tensor(shape: [2, 2], scalars: [6.5, -0.5, -0.5, -3.5]))
    }

    @Test("flattens leading axes: [B, P, in] -> [B, P, out]")
    func leadingAxes() {
        var generator = SeededGenerator(seed: 1)
        let layer = Linear(inputSize: 3, outputSize: 4, using: &generator)
        let input = Tensor(randomNormal: [2, 5, 3], using: &generator)
        let output = layer(input)
        #expect(output.shape == [2, 5, 4])
        #expect(output.reshaped(to: [10, 4]) == layer(input.reshaped(to: [10, 3])))
    }

    @Test("initialises weight and bias within ±1/sqrt(in), as PyTorch")
    func initialisation() {
        var generator = SeededGenerator(seed: 2)
        let layer = Linear(inputSize: 16, outputSize: 8, using: &generator)
        #expect(layer.weight.maxAbsolute() <= 0.25)
        #expect(layer.bias!.maxAbsolute() <= 0.25)
        #expect(layer.weight.maxAbsolute() > 0.2) // the interval is used, not a narrower one
        #expect(layer.parameterPaths.map(\.name) == ["weight", "bias"])
    }

    @Test("gradients of input, weight and bias match central differences", arguments: [true, false])
    func gradientCheck(hasBias: Bool) {
        var generator = SeededGenerator(seed: 3)
        let layer = Linear(inputSize: 4, outputSize: 3, hasBias: hasBias, using: &generator)
        let input = Tensor(randomNormal: [2, 3, 4], using: &generator)
        let lossWeights = Tensor(randomNormal: [2, 3, 3], using: &generator)
        let (_, cache) = layer.forward(input)
        var gradients = layer.zeroGradients()
        let inputGradient = layer.backward(lossWeights, cache: cache, into: &gradients)

        let checker = GradientChecker()
        checker.check("input", analytic: inputGradient, at: input) { weightedSum(layer($0), lossWeights) }
        checker.checkParameters(of: layer, gradients: gradients) { weightedSum($0(input), lossWeights) }
    }

    @Test("backward accumulates parameter gradients with +=")
    func accumulates() {
        var generator = SeededGenerator(seed: 4)
        let layer = Linear(inputSize: 3, outputSize: 2, using: &generator)
        let input = Tensor(randomNormal: [4, 3], using: &generator)
        let outputGradient = Tensor(randomNormal: [4, 2], using: &generator)
        let (_, cache) = layer.forward(input)
        var once = layer.zeroGradients()
        _ = layer.backward(outputGradient, cache: cache, into: &once)
        var twice = layer.zeroGradients()
        _ = layer.backward(outputGradient, cache: cache, into: &twice)
        _ = layer.backward(outputGradient, cache: cache, into: &twice)
        assertClose(twice.weight, once.weight.scaled(by: 2), name: "weight gradient")
        assertClose(twice.bias!, once.bias!.scaled(by: 2), name: "bias gradient")
        layer.resetGradients(&twice)
        #expect(twice.weight == Tensor(zeros: [2, 3]))
    }
}
