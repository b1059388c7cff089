import GlimpseLayers
import GlimpseModel
import GlimpseTensor
import GlimpseTestSupport
import Testing

@Suite("Decoder step: forwardStep, backwardStep and the cache-free step")
struct DecoderStepTests {
    static let configuration = ModelFixtures.tinyConfiguration()

    /// Three rows' inputs to one step: tokens, features [3, P, D], projections [3, P, A], h and c [3, H].
    struct Inputs {
        var tokens = [1, 5, 8]
        var features: Tensor
        var projected: Tensor
        var state: LSTMCell.State
    }

    static func inputs(_ decoder: Decoder, seed: UInt64) -> Inputs {
        let (locations, featureSize, hiddenSize) = (configuration.locationCount, configuration.featureSize, configuration.hiddenSize)
        var generator = SeededGenerator(seed: seed)
        let features = Tensor(randomNormal: [3, locations, featureSize], using: &generator)
        return Inputs(features: features, projected: decoder.attention.projectFeatures(features),
                      state: LSTMCell.State(hidden: Tensor(randomNormal: [3, hiddenSize], using: &generator),
                                            cell: Tensor(randomNormal: [3, hiddenSize], using: &generator)))
    }

    @Test("without the features' gradient (a frozen encoder) the decoder's parameter gradients are exactly the same")
    func frozenFeaturesSkipOnlyTheirGradient() {
        let configuration = ModelFixtures.tinyConfiguration(dropout: 0.3)
        let decoder = ModelFixtures.model(configuration, seed: 63).decoder
        let batch = ModelFixtures.batch(configuration, imageCount: 3, lengths: [4, 2, 5, 1], seed: 64)
        var generator = SeededGenerator(seed: 65)
        let features = Tensor(randomNormal: [3, configuration.locationCount, configuration.featureSize], using: &generator)
        let layout = PackedLayout(captions: batch.captions)
        let (logits, cache) = decoder.forward(features: features, captions: batch.captions, layout: layout, mode: .training,
                                              samplingProbability: 0, using: &generator)
        let logitsGradient = Tensor(randomNormal: logits.shape, using: &generator)
        let weightsGradient = Tensor(randomNormal: [batch.captions.count, configuration.locationCount], using: &generator)
        var full = decoder.zeroGradients(), frozen = decoder.zeroGradients()
        let featuresGradient = decoder.backward(logitsGradient, weightsGradient: weightsGradient, cache: cache, into: &full)
        let skipped = decoder.backward(logitsGradient, weightsGradient: weightsGradient, cache: cache, into: &frozen,
                                       computingFeaturesGradient: false)
        #expect(featuresGradient.shape == features.shape && skipped.scalarCount == 0)
        for path in decoder.parameterPaths {
            #expect(full[keyPath: path.gradient] == frozen[keyPath: path.gradient], "\(path.name)")
        }
    }

    @Test("the cache-free step computes what forwardStep computes in inference mode")
    func inferenceStepMatchesForwardStep() {
        let decoder = ModelFixtures.model(Self.configuration, seed: 60).decoder
        let inputs = Self.inputs(decoder, seed: 61)
        var generator = SeededGenerator(seed: 62)
        let (output, _) = decoder.forwardStep(tokens: inputs.tokens, features: inputs.features,
                                              projectedFeatures: inputs.projected, state: inputs.state,
                                              mode: .inference, using: &generator)
        let stepped = decoder.step(tokens: inputs.tokens, features: inputs.features, projectedFeatures: inputs.projected,
                                   state: inputs.state)
        assertClose(stepped.logits, decoder.output(output.dropped), absoluteTolerance: 1e-6, relativeTolerance: 1e-6,
                    name: "logits")
        assertClose(stepped.attentionWeights, output.attentionWeights, absoluteTolerance: 1e-6, relativeTolerance: 1e-6,
                    name: "α")
        assertClose(stepped.state.hidden, output.state.hidden, absoluteTolerance: 1e-6, relativeTolerance: 1e-6, name: "h")
        assertClose(stepped.state.cell, output.state.cell, absoluteTolerance: 1e-6, relativeTolerance: 1e-6, name: "c")
    }

    @Test("backwardStep's gradients match central differences, a later step of fewer rows included")
    func backwardStepGradients() {
        let decoder = ModelFixtures.model(Self.configuration, seed: 63).decoder
        let inputs = Self.inputs(decoder, seed: 64)
        let (locations, hiddenSize) = (Self.configuration.locationCount, Self.configuration.hiddenSize)
        var generator = SeededGenerator(seed: 65)
        // L = Σ dropout(h_t)·G + Σ α_t·W + Σ h_t[0..<2]·Lh + Σ c_t[0..<2]·Lc: the later step has 2 rows.
        let droppedWeights = Tensor(randomNormal: [3, hiddenSize], using: &generator)
        let attentionWeights = Tensor(randomNormal: [3, locations], using: &generator)
        let later = LSTMCell.State(hidden: Tensor(randomNormal: [2, hiddenSize], using: &generator),
                                   cell: Tensor(randomNormal: [2, hiddenSize], using: &generator))
        func loss(_ decoder: Decoder, _ inputs: Inputs) -> Double {
            var unused = SeededGenerator(seed: 1)
            let (output, _) = decoder.forwardStep(tokens: inputs.tokens, features: inputs.features,
                                                  projectedFeatures: inputs.projected, state: inputs.state,
                                                  mode: .inference, using: &unused)
            return weightedSum(output.dropped, droppedWeights) + weightedSum(output.attentionWeights, attentionWeights)
                + weightedSum(output.state.hidden.rows(0..<2), later.hidden) + weightedSum(output.state.cell.rows(0..<2), later.cell)
        }
        var unused = SeededGenerator(seed: 1)
        let (_, cache) = decoder.forwardStep(tokens: inputs.tokens, features: inputs.features,
                                             projectedFeatures: inputs.projected, state: inputs.state,
                                             mode: .inference, using: &unused)
        var gradients = decoder.zeroGradients()
        var featureGradients = decoder.attention.zeroFeatureGradients(for: decoder.attention.forwardProjection(inputs.features).cache)
        let previous = decoder.backwardStep(droppedGradient: droppedWeights, laterGradient: later, weightsGradient: attentionWeights,
                                            cache: cache, into: &gradients, featureGradients: &featureGradients)

        let checker = GradientChecker()
        checker.check("h_{t−1}", analytic: previous.hidden, at: inputs.state.hidden) { value in
            var perturbed = inputs
            perturbed.state = LSTMCell.State(hidden: value, cell: inputs.state.cell)
            return loss(decoder, perturbed)
        }
        checker.check("c_{t−1}", analytic: previous.cell, at: inputs.state.cell) { value in
            var perturbed = inputs
            perturbed.state = LSTMCell.State(hidden: inputs.state.hidden, cell: value)
            return loss(decoder, perturbed)
        }
        checker.check("features", analytic: featureGradients.features, at: inputs.features) { value in
            var perturbed = inputs
            perturbed.features = value
            return loss(decoder, perturbed)
        }
        checker.check("projected features", analytic: featureGradients.projectedFeatures, at: inputs.projected) { value in
            var perturbed = inputs
            perturbed.projected = value
            return loss(decoder, perturbed)
        }
        // encoder_att and the initial-state layers are not in a step: their gradients stay zero.
        let stepParameters = decoder.parameterPaths.filter {
            !$0.name.hasPrefix("attention.encoder_att.") && !$0.name.hasPrefix("init_")
        }
        for path in stepParameters {
            checker.check(path.name, analytic: gradients[keyPath: path.gradient], at: decoder[keyPath: path.parameter]) { value in
                var perturbed = decoder
                perturbed[keyPath: path.parameter] = value
                return loss(perturbed, inputs)
            }
        }
    }
}
