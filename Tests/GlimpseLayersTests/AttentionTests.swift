import Foundation
import GlimpseLayers
import GlimpseTensor
import GlimpseTestSupport
import Testing

@Suite("SoftAttention")
struct AttentionTests {
    // B 2, P 4, D 3, H 5, A 6
    static func makeInputs(seed: UInt64) -> (attention: SoftAttention, features: Tensor, hidden: Tensor,
                                             generator: SeededGenerator) {
        var generator = SeededGenerator(seed: seed)
        let attention = SoftAttention(featureSize: 3, hiddenSize: 5, attentionSize: 6, using: &generator)
        let features = Tensor(randomNormal: [2, 4, 3], using: &generator)
        let hidden = Tensor(randomNormal: [2, 5], using: &generator)
        return (attention, features, hidden, generator)
    }

    @Test("weights are a softmax over locations and the context is their gated weighted sum")
    func forwardMatchesDefinition() {
        let (attention, features, hidden, _) = Self.makeInputs(seed: 50)
        let output = attention(features: features, projectedFeatures: attention.projectFeatures(features), hidden: hidden)
        #expect(output.weights.shape == [2, 4] && output.context.shape == [2, 3])
        // Recompute from the definition with the layers' own inference calls.
        let decoded = attention.decoderAttention(hidden)
        for image in 0..<2 {
            var scores = [Double]()
            for location in 0..<4 {
                let projected = attention.encoderAttention(features.row(image).row(location).reshaped(to: [1, 3]))
                let activated = (projected + decoded.row(image).reshaped(to: [1, 6])).map { tanh($0) }
                scores.append(Double(attention.fullAttention(activated)[0, 0]))
            }
            let largest = scores.max()!
            let total = scores.reduce(0) { $0 + exp($1 - largest) }
            let weights = scores.map { Float(exp($0 - largest) / total) }
            assertClose(output.weights.row(image), Tensor(shape: [4], scalars: weights), name: "α of image \(image)")
            let gate = attention.gate(hidden.row(image).reshaped(to: [1, 5])).map { 1 / (1 + exp(-$0)) }
            var context = [Float](repeating: 0, count: 3)
            for location in 0..<4 {
                for feature in 0..<3 { context[feature] += weights[location] * features[image, location, feature] }
            }
            assertClose(output.context.row(image), Tensor(shape: [3], scalars: context) * gate.reshaped(to: [3]),
                        name: "context of image \(image)")
        }
    }

    @Test("parameters carry the PyTorch module names")
    func names() {
        let (attention, _, _, _) = Self.makeInputs(seed: 51)
        #expect(attention.parameterPaths.map(\.name) == [
            "encoder_att.weight", "encoder_att.bias", "decoder_att.weight", "decoder_att.bias",
            "full_att.weight", "full_att.bias", "f_beta.weight", "f_beta.bias",
        ])
    }

    @Test("gradients of features, hidden and every parameter match central differences, through α too")
    func gradientCheck() {
        let (attention, features, hidden, inputGenerator) = Self.makeInputs(seed: 52)
        var generator = inputGenerator
        let contextWeights = Tensor(randomNormal: [2, 3], using: &generator)
        let alphaWeights = Tensor(randomNormal: [2, 4], using: &generator)

        // The whole path, projection included, as a caller runs it.
        func loss(_ attention: SoftAttention, _ features: Tensor, _ hidden: Tensor) -> Double {
            let output = attention(features: features, projectedFeatures: attention.projectFeatures(features), hidden: hidden)
            return weightedSum(output.context, contextWeights) + weightedSum(output.weights, alphaWeights)
        }
        let (projected, projectionCache) = attention.forwardProjection(features)
        let (_, cache) = attention.forward(features: features, projectedFeatures: projected, hidden: hidden)
        var gradients = attention.zeroGradients()
        var featureGradients = attention.zeroFeatureGradients(for: projectionCache)
        let hiddenGradient = attention.backward(contextWeights, weightsGradient: alphaWeights, cache: cache,
                                                into: &gradients, accumulatingInto: &featureGradients)
        let projectedGradient = featureGradients.projectedFeatures
        let featuresGradient = attention.backwardProjection(featureGradients, cache: projectionCache, into: &gradients)

        let checker = GradientChecker()
        checker.check("features", analytic: featuresGradient, at: features) { loss(attention, $0, hidden) }
        checker.check("hidden", analytic: hiddenGradient, at: hidden) { loss(attention, features, $0) }
        checker.checkParameters(of: attention, gradients: gradients) { loss($0, features, hidden) }

        // The projection gradient on its own: perturb encoder_att(a), keep a fixed elsewhere.
        checker.check("projected features", analytic: projectedGradient, at: projected) { projected in
            let output = attention(features: features, projectedFeatures: projected, hidden: hidden)
            return weightedSum(output.context, contextWeights) + weightedSum(output.weights, alphaWeights)
        }
    }

    @Test("one projection serves several steps: gradients summed over steps match central differences")
    func severalStepsShareTheProjection() {
        let (attention, features, firstHidden, inputGenerator) = Self.makeInputs(seed: 53)
        var generator = inputGenerator
        let hiddens = [firstHidden, Tensor(randomNormal: [2, 5], using: &generator)]
        let contextWeights = hiddens.map { _ in Tensor(randomNormal: [2, 3], using: &generator) }

        func loss(_ attention: SoftAttention, _ features: Tensor) -> Double {
            let projected = attention.projectFeatures(features) // once per image
            var total = 0.0
            for step in 0..<2 {
                let output = attention(features: features, projectedFeatures: projected, hidden: hiddens[step])
                total += weightedSum(output.context, contextWeights[step])
            }
            return total
        }
        let (projected, projectionCache) = attention.forwardProjection(features)
        let caches = (0..<2).map {
            attention.forward(features: features, projectedFeatures: projected, hidden: hiddens[$0]).cache
        }
        var gradients = attention.zeroGradients()
        var featureGradients = attention.zeroFeatureGradients(for: projectionCache)
        for step in (0..<2).reversed() {
            _ = attention.backward(contextWeights[step], cache: caches[step], into: &gradients,
                                   accumulatingInto: &featureGradients)
        }
        let featuresGradient = attention.backwardProjection(featureGradients, cache: projectionCache, into: &gradients)

        let checker = GradientChecker()
        checker.check("features", analytic: featuresGradient, at: features) { loss(attention, $0) }
        checker.checkParameters(of: attention, gradients: gradients) { loss($0, features) }
    }
}
