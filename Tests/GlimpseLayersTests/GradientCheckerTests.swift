import GlimpseLayers
import GlimpseTensor
import GlimpseTestSupport
import Testing

/// The checker itself: it must pass a right gradient and flag a slightly wrong one,
/// or every gradient test above proves nothing.
@Suite("Test support")
struct GradientCheckerTests {
    // f(x) = Σ x³/3, so ∂f/∂x = x².
    static let point = Tensor(shape: [5], scalars: [-1.5, -0.3, 0.2, 0.9, 2])
    static func loss(_ x: Tensor) -> Double { x.scalars.reduce(0) { $0 + Double($1) * Double($1) * Double($1) / 3 } }

    @Test("a correct gradient passes with a small error")
    func correct() {
        let comparison = GradientChecker().check("x", analytic: Self.point * Self.point, at: Self.point, loss: Self.loss)
        #expect(comparison.maxError < 1e-3)
    }

    @Test("a gradient 3% off in one element is reported, naming the tensor and element")
    func wrongByThreePercent() {
        var wrong = Self.point * Self.point
        wrong[flat: 3] *= 1.03
        let checker = GradientChecker()
        let comparison = checker.compare("x", analytic: wrong, at: Self.point, loss: Self.loss)
        #expect(comparison.maxError > checker.tolerance)
        #expect(comparison.worstIndex == 3 && comparison.name == "x")
    }

    @Test("a parameter gradient with the wrong sign is reported by checkParameters")
    func wrongParameter() {
        var generator = SeededGenerator(seed: 100)
        let layer = Linear(inputSize: 2, outputSize: 2, using: &generator)
        let input = Tensor(randomNormal: [3, 2], using: &generator)
        let lossWeights = Tensor(randomNormal: [3, 2], using: &generator)
        var gradients = layer.zeroGradients()
        _ = layer.backward(lossWeights, cache: layer.forward(input).cache, into: &gradients)
        gradients.bias!.scale(by: -1)
        let checker = GradientChecker()
        let comparisons = checker.compareParameters(of: layer, gradients: gradients) { weightedSum($0(input), lossWeights) }
        #expect(comparisons.map(\.name) == ["weight", "bias"])
        #expect(comparisons[0].maxError <= checker.tolerance)
        #expect(comparisons[1].maxError > checker.tolerance)
    }

    @Test("assertClose reports a shape mismatch before comparing values")
    func shapeFirst() {
        #expect(closenessFailure(Tensor(zeros: [2, 3]), Tensor(zeros: [3, 2]), name: "transposed")
                == "transposed: shape [2, 3], expected [3, 2]")
        #expect(assertClose(Tensor(shape: [2], scalars: [1, 2]), Tensor(shape: [2], scalars: [1, 2.000001])))
    }
}
