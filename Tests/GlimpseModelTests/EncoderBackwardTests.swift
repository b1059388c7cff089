import GlimpseLayers
import GlimpseModel
import GlimpseTensor
import Testing

@Suite("Encoder backward")
struct EncoderBackwardTests {
    @Test("a consumed cache gives exactly the gradients of a shared one, and a shared cache is left as it was")
    func consumedCache() {
        let configuration = ModelFixtures.tinyConfiguration()
        var encoder = ModelFixtures.model(configuration, seed: 90).encoder
        var generator = SeededGenerator(seed: 91)
        let images = Tensor(randomNormal: [3, 3, configuration.imageSize, configuration.imageSize], using: &generator)
        let (features, cache) = encoder.forward(images, mode: .training)
        let featuresGradient = Tensor(randomNormal: features.shape, using: &generator)
        func activations(_ cache: Encoder.Cache) -> [[[Float]]] {
            cache.stages.map { [$0.conv1.input, $0.bn1.input, $0.relu1.output, $0.bn2.input, $0.relu2.output].map(\.scalars) }
        }
        let keptScalars = activations(cache)

        var sharedGradients = encoder.zeroGradients()
        let sharedImagesGradient = encoder.backward(featuresGradient, cache: cache, into: &sharedGradients)
        #expect(activations(cache) == keptScalars, "backward changed a cache its caller kept")

        var consumedGradients = encoder.zeroGradients()
        let consumedImagesGradient = encoder.backward(featuresGradient, cache: consume cache, into: &consumedGradients)
        #expect(consumedImagesGradient.scalars.map(\.bitPattern) == sharedImagesGradient.scalars.map(\.bitPattern))
        for path in encoder.parameterPaths {
            #expect(consumedGradients[keyPath: path.gradient].scalars.map(\.bitPattern)
                        == sharedGradients[keyPath: path.gradient].scalars.map(\.bitPattern), "\(path.name)")
        }
    }
}
