import Foundation
import GlimpseImage
import GlimpseLayers
import GlimpseModel
import GlimpseTensor
import GlimpseTestSupport
import Testing

@Suite("Position features: each location's grid coordinates after its channels")
struct PositionFeaturesTests {
    /// The tiny model of ModelFixtures (g 2, P 4, stages [2, 3]) with coordinates: D = 3 + 2.
    static let configuration = try! ModelConfiguration(vocabularySize: 9, imageSize: 8, stageChannels: [2, 3],
                                                       embeddingSize: 3, attentionSize: 3, hiddenSize: 4, dropout: 0,
                                                       attentionRegularization: 1, positionFeatures: true)

    @Test("D is the last stage's channels plus 2, and every decoder tensor that reads features is sized by it")
    func sizes() {
        #expect(Self.configuration.featureSize == 5 && Self.configuration.encoderChannels == 3)
        let shapes = Dictionary(uniqueKeysWithValues: CaptioningModel.expectedShapes(for: Self.configuration))
        #expect(shapes["decoder.attention.encoder_att.weight"] == [3, 5])
        #expect(shapes["decoder.init_h.weight"] == [4, 5])
        #expect(shapes["decoder.lstm.weight_ih"] == [16, 3 + 5])
        #expect(shapes["encoder.stages.1.conv2.weight"] == [3, 3, 3, 3])
    }

    @Test("the features are the encoder's channels, then x and y of each cell's centre, row by row from the top left")
    func coordinates() {
        let withPositions = ModelFixtures.model(Self.configuration, seed: 7)
        var plainEncoder = withPositions.encoder
        plainEncoder.positionFeatures = false
        let images = ModelFixtures.batch(Self.configuration, imageCount: 2, lengths: [1], seed: 8).images
        let features = withPositions.encode(images).features
        let plain = plainEncoder(images)
        #expect(features.shape == [2, 4, 5] && plain.shape == [2, 4, 3])
        // Cells of a 2 × 2 grid: centres at −0.5 and 0.5 on each axis; location p = row · 2 + column.
        let expected: [(Float, Float)] = [(-0.5, -0.5), (0.5, -0.5), (-0.5, 0.5), (0.5, 0.5)]
        for image in 0..<2 {
            for location in 0..<4 {
                for channel in 0..<3 {
                    #expect(features[image, location, channel] == plain[image, location, channel])
                }
                #expect(features[image, location, 3] == expected[location].0)
                #expect(features[image, location, 4] == expected[location].1)
            }
        }
    }

    @Test("every parameter's gradient through the position features matches central differences of the loss")
    func gradients() {
        var model = ModelFixtures.model(Self.configuration, seed: 11)
        let batch = ModelFixtures.batch(Self.configuration, imageCount: 2, lengths: [3, 2, 4], seed: 12)
        var generator = SeededGenerator(seed: 13)
        let result = model.lossAndGradients(for: batch, mode: .inference, using: &generator)
        #expect(abs(result.loss.total - model.evaluateLoss(for: batch).total) < 1e-4)
        // The decoder's parameters (every one that reads the features, coordinates included) and
        // the encoder's convolutions (their gradient comes back through the features with the
        // coordinates' part dropped). The BatchNorm parameters are checked layer by layer in
        // NormalizationTests: here their gradients are ~1e-5, under the float32 noise of the loss.
        let checker = GradientChecker()
        for path in model.parameterPaths where path.name.hasPrefix("decoder.") || path.name.contains(".conv") {
            checker.check(path.name, analytic: result.gradients[keyPath: path.gradient], at: model[keyPath: path.parameter]) { value in
                var perturbed = model
                perturbed[keyPath: path.parameter] = value
                return Double(perturbed.evaluateLoss(for: batch).total)
            }
        }
    }

    @Test("the setting is saved with the model: a checkpoint reads back with it, and files without it read as off")
    func configurationCoding() throws {
        let encoded = try JSONEncoder().encode(Self.configuration)
        #expect(try JSONDecoder().decode(ModelConfiguration.self, from: encoded) == Self.configuration)
        let off = ModelFixtures.tinyConfiguration()
        let text = String(decoding: try JSONEncoder().encode(off), as: UTF8.self)
        #expect(!text.contains("positionFeatures"), "a model without position features writes what it wrote before")
        let decoded = try JSONDecoder().decode(ModelConfiguration.self, from: Data(text.utf8))
        #expect(decoded.positionFeatures == false && decoded == off)
    }

    @Test("a checkpoint of such a model reads back with its position features, and captions as it did")
    func checkpointRoundTrip() throws {
        let model = ModelFixtures.model(Self.configuration, seed: 21)
        let checkpoint = Checkpoint(model: model, vocabulary: ModelFixtures.vocabulary(size: 9),
                                    preprocessing: Preprocessing(imageSize: 8))
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("model.safetensors").path
        try checkpoint.write(to: path)
        let loaded = try Checkpoint(contentsOf: path)
        #expect(loaded.model.configuration.positionFeatures)
        #expect(loaded.model.encoder.positionFeatures)
        let images = ModelFixtures.batch(Self.configuration, imageCount: 2, lengths: [1], seed: 22).images
        #expect(loaded.model.encode(images).features == model.encode(images).features)
        #expect(loaded.model.caption(images).map(\.best.tokens) == model.caption(images).map(\.best.tokens))
    }
}
