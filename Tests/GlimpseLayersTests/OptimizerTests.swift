import Foundation
import GlimpseLayers
import GlimpseTensor
import GlimpseTestSupport
import Testing

@Suite("Adam and gradient clipping")
struct OptimizerTests {
    /// A one-weight, no-bias Linear: the smallest `Parameterized` model.
    static func scalarModel(_ value: Float) -> Linear {
        Linear(weight: Tensor(shape: [1, 1], scalars: [value]), bias: nil)
    }

    static func gradient(_ value: Float) -> Linear.Gradients {
        var gradients = scalarModel(0).zeroGradients()
        gradients.weight[flat: 0] = value
        return gradients
    }

    /// torch.optim.Adam's update, written out in Double (PyTorch 2.x, `_single_tensor_adam`):
    ///     grad = grad + wd * p
    ///     m.lerp_(grad, 1 - b1); v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
    ///     step_size = lr / (1 - b1**t); denom = v.sqrt() / sqrt(1 - b2**t) + eps
    ///     p.addcdiv_(m, denom, value=-step_size)
    static func reference(parameter: Double, gradients: [Double], learningRate: Double, weightDecay: Double) -> Double {
        var (p, m, v) = (parameter, 0.0, 0.0)
        for (index, rawGradient) in gradients.enumerated() {
            let t = Double(index + 1)
            let g = rawGradient + weightDecay * p
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            p -= learningRate / (1 - pow(0.9, t)) * m / (v.squareRoot() / (1 - pow(0.999, t)).squareRoot() + 1e-8)
        }
        return p
    }

    @Test("the first step moves each weight by lr against the gradient's sign")
    func firstStep() {
        // m̂ = g and v̂ = g² after one step, so the update is lr·g/(|g| + ε).
        var model = Self.scalarModel(1)
        var adam = Adam(learningRate: 0.1)
        adam.update(&model, along: Self.gradient(0.5))
        #expect(abs(model.weight[0, 0] - 0.9) < 1e-6)
        #expect(adam.stepCount == 1)
        // m = 0.1·0.5 and v = 0.001·0.25, to float32 rounding.
        #expect(abs(adam.firstMoments["weight"]![0, 0] - 0.05) <= 0.05 * 1e-7)
        #expect(abs(adam.secondMoments["weight"]![0, 0] - 0.00025) <= 0.00025 * 1e-7)
    }

    @Test("three steps with bias correction and L2 weight decay follow torch.optim.Adam",
          arguments: [0.0, 0.01])
    func severalSteps(weightDecay: Double) {
        let gradients: [Double] = [0.5, -1, 0.25]
        var model = Self.scalarModel(1)
        var adam = Adam(learningRate: 0.1, weightDecay: weightDecay)
        for gradient in gradients { adam.update(&model, along: Self.gradient(Float(gradient))) }
        let expected = Self.reference(parameter: 1, gradients: gradients, learningRate: 0.1, weightDecay: weightDecay)
        #expect(abs(Double(model.weight[0, 0]) - expected) < 1e-6,
                "Adam gave \(model.weight[0, 0]), reference \(expected)")
    }

    @Test("hand-computed second step: 1 → 0.9 → 0.9 + 0.1·0.055/0.19 / (sqrt(0.00124975/0.001999) + 1e-8)")
    func handComputedSecondStep() {
        var model = Self.scalarModel(1)
        var adam = Adam(learningRate: 0.1)
        adam.update(&model, along: Self.gradient(0.5))
        adam.update(&model, along: Self.gradient(-1))
        // m = 0.9·0.05 − 0.1 = −0.055, v = 0.999·0.00025 + 0.001 = 0.00124975,
        // 1 − 0.9² = 0.19, 1 − 0.999² = 0.001999.
        let expected = 0.9 + 0.1 * (0.055 / 0.19) / ((0.00124975 / 0.001999).squareRoot() + 1e-8)
        #expect(abs(Double(model.weight[0, 0]) - expected) < 1e-6)
    }

    @Test("clipping scales all gradients by maxNorm/(total + 1e-6) only when the total exceeds maxNorm")
    func clipping() {
        var generator = SeededGenerator(seed: 60)
        let model = Linear(inputSize: 2, outputSize: 2, using: &generator)
        var gradients = model.zeroGradients()
        gradients.weight = Tensor(shape: [2, 2], scalars: [3, 0, 0, 0])
        gradients.bias = Tensor(shape: [2], scalars: [0, 4]) // global norm 5 across both tensors
        var unclipped = gradients
        #expect(clipGradientNorm(&unclipped, of: model, maxNorm: 10) == 5)
        #expect(unclipped.weight == gradients.weight && unclipped.bias == gradients.bias)

        #expect(clipGradientNorm(&gradients, of: model, maxNorm: 1) == 5)
        let scale = Float(1 / (5 + 1e-6))
        assertClose(gradients.weight, Tensor(shape: [2, 2], scalars: [3 * scale, 0, 0, 0]), name: "weight")
        assertClose(gradients.bias!, Tensor(shape: [2], scalars: [0, 4 * scale]), name: "bias")
    }

    @Test("Adam and clipping reach nested parameters by their dotted names")
    func nestedModel() {
        var generator = SeededGenerator(seed: 61)
        var attention = SoftAttention(featureSize: 2, hiddenSize: 2, attentionSize: 3, using: &generator)
        var gradients = attention.zeroGradients()
        gradients.fullAttention.bias = Tensor(shape: [1], scalars: [2])
        let before = attention.fullAttention.bias!
        var adam = Adam(learningRate: 0.01)
        adam.update(&attention, along: gradients)
        #expect(abs(attention.fullAttention.bias![0] - (before[0] - 0.01)) < 1e-6)
        #expect(adam.firstMoments.keys.sorted().first == "decoder_att.bias")
        #expect(adam.firstMoments.count == 8)
        #expect(clipGradientNorm(&gradients, of: attention, maxNorm: 1) == 2)
    }
}
