import Foundation
import GlimpseImage
import GlimpseLayers
import GlimpseModel
import GlimpseSafeTensors
import GlimpseTensor
import GlimpseTestSupport
import Testing

/// A decoder on top of a frozen ResNet: the ResNet's weights travel in the checkpoint, and
/// a batch of cached features trains and validates exactly as the images it came from.
@Suite("Show, Attend and Tell on a pretrained ResNet encoder")
struct PretrainedEncoderTests {
    static let resnet: ResNetEncoder = {
        var generator = SeededGenerator(seed: 70)
        return ResNetEncoder(architecture: .resnet18, gridSize: 2, using: &generator)
    }()

    static func configuration(positions: Bool = false) -> ModelConfiguration {
        try! ModelConfiguration(vocabularySize: 9, imageSize: 64, stageChannels: [], embeddingSize: 3, attentionSize: 3,
                                hiddenSize: 4, dropout: 0, positionFeatures: positions,
                                pretrainedEncoder: .init(architecture: .resnet18, gridSize: 2, digest: ResNetWeights.digest(resnet)))
    }

    static func model(positions: Bool = false) -> CaptioningModel {
        var generator = SeededGenerator(seed: 71)
        return CaptioningModel(configuration: configuration(positions: positions), pretrainedEncoder: resnet, using: &generator)
    }

    @Test("D, P and the parameters are the decoder's; the ResNet is no parameter")
    func configurationSizes() {
        let configuration = Self.configuration(positions: true)
        #expect(configuration.featureSize == 514 && configuration.locationCount == 4)
        #expect(!Self.model().parameterPaths.contains { $0.name.hasPrefix("encoder.") })
        #expect(throws: ModelConfigurationError.stagesWithPretrainedEncoder) {
            try ModelConfiguration(vocabularySize: 9, imageSize: 64, stageChannels: [4],
                                   pretrainedEncoder: .init(architecture: .resnet18, gridSize: 2, digest: "0"))
        }
    }

    @Test("a batch of cached features gives the loss and gradients of the images it came from", arguments: [false, true])
    func encodedBatchEqualsImages(positions: Bool) {
        var model = Self.model(positions: positions)
        let configuration = model.configuration
        let images = ModelFixtures.batch(configuration, imageCount: 2, lengths: [3, 1, 4], seed: 72)
        let encoded = CaptionBatch(features: model.features(of: images.images), captions: images.captions)
        var generator = SeededGenerator(seed: 73)
        let fromImages = model.lossAndGradients(for: images, mode: .training, using: &generator)
        generator = SeededGenerator(seed: 73)
        let fromFeatures = model.lossAndGradients(for: encoded, mode: .training, using: &generator)
        #expect(fromImages.loss == fromFeatures.loss)
        for path in model.parameterPaths {
            #expect(fromImages.gradients[keyPath: path.gradient] == fromFeatures.gradients[keyPath: path.gradient], "\(path.name)")
        }
        #expect(model.evaluateLoss(for: images) == model.evaluateLoss(for: encoded))
    }

    @Test("the checkpoint carries the ResNet: written, read back, it captions identically; a changed weight is refused")
    func checkpointRoundTrip() throws {
        let model = Self.model()
        let checkpoint = Checkpoint(model: model, vocabulary: ModelFixtures.vocabulary(size: 9),
                                    preprocessing: Preprocessing(imageSize: 64, resizeShortSide: 73))
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("model.safetensors").path
        try checkpoint.write(to: path)
        let read = try Checkpoint(contentsOf: path)
        #expect(read.model.configuration == model.configuration && read.preprocessing == checkpoint.preprocessing)
        let images = ModelFixtures.batch(model.configuration, imageCount: 2, lengths: [1], seed: 74).images
        #expect(read.model.features(of: images) == model.features(of: images))

        // One bias nudged: the digest no longer matches the configuration.
        let file = try SafeTensorsFile(contentsOf: path)
        var tensors: [String: ShapedArray<Float>] = [:]
        for name in file.names { tensors[name] = try file.floats(named: name) }
        let name = CaptioningModel.pretrainedEncoderPrefix + "layer2.0.conv1.bias"
        var values = tensors[name]!.values
        values[0] += 0.5
        tensors[name] = ShapedArray(shape: tensors[name]!.shape, values: values)
        try SafeTensorsWriter.write(tensors, metadata: file.metadata, to: path)
        #expect {
            try Checkpoint(contentsOf: path)
        } throws: { error in
            guard case .badMetadata(_, let problem) = (error as? CheckpointError)?.reason else { return false }
            return problem.contains("the encoder's weights have digest")
        }
    }
}
