import GlimpseLayers
@testable import GlimpseModel
import GlimpseTensor
import GlimpseTestSupport
import Testing

/// The encoder's inference runs fused layers (`FusedConvolution`) made from its stages and kept;
/// these tests pin that they always are the current stages'.
@Suite("Encoder inference (fused layers, kept between calls)")
struct EncoderInferenceTests {
    /// S 32, stages [8, 16]: the first layer takes the direct kernel, 8 → 8 at 32² Winograd F(4x4)
    /// (batch 2: 2048 pixels), the second stage F(2x2) at 16² (512 pixels).
    static let configuration = try! ModelConfiguration(vocabularySize: 9, imageSize: 32, stageChannels: [8, 16],
                                                       embeddingSize: 3, attentionSize: 3, hiddenSize: 4)

    /// The stages one by one, unfused (BatchNorm and ReLU as their own pass), as [N, P, D].
    static func unfused(_ encoder: Encoder, _ images: Tensor) -> Tensor {
        var activation = images
        for stage in encoder.stages { activation = stage(activation) }
        return Encoder.gridToLocations(activation)
    }

    static func images(seed: UInt64) -> Tensor {
        var generator = SeededGenerator(seed: seed)
        return Tensor(randomNormal: [2, 3, 32, 32], using: &generator)
    }

    @Test("equals the stages run one by one, to float rounding")
    func equalsStages() {
        let model = ModelFixtures.model(Self.configuration, seed: 70)
        let images = Self.images(seed: 71)
        let features = model.encoder(images)
        #expect(features.shape == [2, 64, 16])
        assertClose(features, Self.unfused(model.encoder, images), absoluteTolerance: 1e-5, name: "features")
        #expect(model.encoder(images) == features)
    }

    @Test("follows every change of the stages: a training step's weights and running statistics, a replaced tensor")
    func followsChanges() {
        let configuration = Self.configuration
        let model = ModelFixtures.model(configuration, seed: 72)
        let images = Self.images(seed: 73)
        let before = model.encoder(images) // makes and keeps the fused layers
        var trainer = Trainer(model: model, optimizer: Adam(learningRate: 0.05))
        var generator = SeededGenerator(seed: 74)
        let batch = ModelFixtures.batch(configuration, imageCount: 2, lengths: [3, 2], seed: 75)
        _ = trainer.step(batch, using: &generator)
        let trained = trainer.model
        let after = trained.encoder(images)
        assertClose(after, Self.unfused(trained.encoder, images), absoluteTolerance: 1e-5, name: "after a step")
        #expect(after != before)
        // The copy made before the step still has, and runs, the old stages.
        #expect(model.encoder(images) == before)

        // A tensor replaced through a key path, as checkpoint loading and the optimizer write them.
        var edited = trained
        let path = edited.parameterPaths.first { $0.name == "encoder.stages.1.conv2.weight" }!
        edited[keyPath: path.parameter] = edited[keyPath: path.parameter].scaled(by: -1)
        assertClose(edited.encoder(images), Self.unfused(edited.encoder, images), absoluteTolerance: 1e-5,
                    name: "after an edit")
        #expect(edited.encoder(images) != after)
    }
}
