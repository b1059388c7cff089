import GlimpseLayers
import GlimpseTensor
import GlimpseTestSupport
import Testing

/// Every backward adds into the gradients it is given (`+=`), never overwrites them:
/// running it twice on the same cache must give exactly twice the first result.
@Suite("Gradient accumulation")
struct AccumulationTests {
    static func expectDoubled<Layer: Parameterized>(_ layer: Layer, once: Layer.Gradients, twice: Layer.Gradients,
                                                     sourceLocation: SourceLocation = #_sourceLocation) {
        for path in layer.parameterPaths {
            assertClose(twice[keyPath: path.gradient], once[keyPath: path.gradient].scaled(by: 2),
                        absoluteTolerance: 1e-6, relativeTolerance: 1e-6, name: path.name, sourceLocation: sourceLocation)
        }
    }

    static func backwardTwice<Layer: Parameterized>(_ layer: Layer, _ backward: (inout Layer.Gradients) -> Void) {
        var once = layer.zeroGradients()
        backward(&once)
        var twice = layer.zeroGradients()
        backward(&twice)
        backward(&twice)
        expectDoubled(layer, once: once, twice: twice)
    }

    @Test func conv2d() {
        var generator = SeededGenerator(seed: 70)
        let layer = Conv2d(inputChannels: 2, outputChannels: 3, hasBias: true, using: &generator)
        let (output, cache) = layer.forward(Tensor(randomNormal: [2, 2, 5, 6], using: &generator))
        let outputGradient = Tensor(randomNormal: output.shape, using: &generator)
        Self.backwardTwice(layer) { _ = layer.backward(outputGradient, cache: cache, into: &$0) }
    }

    @Test func batchNorm2d() {
        var generator = SeededGenerator(seed: 71)
        var layer = BatchNorm2d(channels: 2)
        let (output, cache) = layer.forward(Tensor(randomNormal: [2, 2, 5, 6], using: &generator), mode: .training)
        let outputGradient = Tensor(randomNormal: output.shape, using: &generator)
        Self.backwardTwice(layer) { _ = layer.backward(outputGradient, cache: cache, into: &$0) }
    }

    @Test func embedding() {
        var generator = SeededGenerator(seed: 72)
        let layer = Embedding(vocabularySize: 4, embeddingSize: 3, using: &generator)
        let (output, cache) = layer.forward([1, 3, 1])
        let outputGradient = Tensor(randomNormal: output.shape, using: &generator)
        Self.backwardTwice(layer) { layer.backward(outputGradient, cache: cache, into: &$0) }
    }

    @Test func lstmCell() {
        var generator = SeededGenerator(seed: 73)
        let layer = LSTMCell(inputSize: 3, hiddenSize: 4, using: &generator)
        let state = LSTMCell.State(hidden: Tensor(randomNormal: [2, 4], using: &generator),
                                   cell: Tensor(randomNormal: [2, 4], using: &generator))
        let (_, cache) = layer.forward(Tensor(randomNormal: [2, 3], using: &generator), state: state)
        let stateGradient = LSTMCell.State(hidden: Tensor(randomNormal: [2, 4], using: &generator),
                                           cell: Tensor(randomNormal: [2, 4], using: &generator))
        Self.backwardTwice(layer) { _ = layer.backward(stateGradient, cache: cache, into: &$0) }
    }

    @Test func softAttention() {
        var generator = SeededGenerator(seed: 74)
        let layer = SoftAttention(featureSize: 3, hiddenSize: 4, attentionSize: 5, using: &generator)
        let features = Tensor(randomNormal: [2, 6, 3], using: &generator)
        let (projected, projectionCache) = layer.forwardProjection(features)
        let (_, cache) = layer.forward(features: features, projectedFeatures: projected,
                                       hidden: Tensor(randomNormal: [2, 4], using: &generator))
        let contextGradient = Tensor(randomNormal: [2, 3], using: &generator)
        Self.backwardTwice(layer) { gradients in
            var featureGradients = layer.zeroFeatureGradients(for: projectionCache)
            _ = layer.backward(contextGradient, cache: cache, into: &gradients, accumulatingInto: &featureGradients)
            _ = layer.backwardProjection(featureGradients, cache: projectionCache, into: &gradients)
        }
        // The per-image gradients accumulate across steps the same way.
        var scratch = layer.zeroGradients()
        var once = layer.zeroFeatureGradients(for: projectionCache)
        _ = layer.backward(contextGradient, cache: cache, into: &scratch, accumulatingInto: &once)
        var twice = layer.zeroFeatureGradients(for: projectionCache)
        _ = layer.backward(contextGradient, cache: cache, into: &scratch, accumulatingInto: &twice)
        _ = layer.backward(contextGradient, cache: cache, into: &scratch, accumulatingInto: &twice)
        assertClose(twice.features, once.features.scaled(by: 2), name: "features gradient")
        assertClose(twice.projectedFeatures, once.projectedFeatures.scaled(by: 2), name: "projected features gradient")
    }
}
