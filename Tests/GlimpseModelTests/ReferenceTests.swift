import Foundation
import GlimpseLayers
import GlimpseModel
import GlimpseSafeTensors
import GlimpseTensor
import GlimpseTestSupport
import Testing

/// The model against PyTorch (Scripts/reference_model.py wrote Fixtures/model.safetensors:
/// a float64 reference on a reduced configuration, one padded batch of 3 images and
/// 6 captions, BatchNorm in training mode, dropout off; and, with --position-features,
/// model_positions.safetensors, the same with each location's coordinates in its features).
@Suite("Show, Attend and Tell against PyTorch")
struct ReferenceTests {
    struct Reference {
        let file: SafeTensorsFile
        let configuration: ModelConfiguration
        let model: CaptioningModel
        let batch: CaptionBatch

        init(_ fixture: String) throws {
            file = try SafeTensorsFile(contentsOf: ModelFixtures.fixturePath(fixture))
            configuration = try JSONDecoder().decode(ModelConfiguration.self, from: Data(file.metadata["config"]!.utf8))
            model = try CaptioningModel(configuration: configuration, tensorsFrom: file, prefix: "param.")
            let images = try file.floats(named: "input.images")
            let captions = try file.int64s(named: "input.captions")
            let lengths = try file.int64s(named: "input.caption_lengths").values
            let imageIndices = try file.int64s(named: "input.caption_images").values
            let width = captions.shape[1]
            batch = CaptionBatch(
                images: Tensor(shape: images.shape, scalars: images.values),
                captions: lengths.indices.map { index in
                    CaptionBatch.Caption(imageIndex: Int(imageIndices[index]),
                                         tokens: captions.values[(index * width)..<(index * width + Int(lengths[index]))].map { Int32($0) })
                })
        }

        func tensor(_ name: String) throws -> Tensor {
            let stored = try file.floats(named: name)
            return Tensor(shape: stored.shape, scalars: stored.values)
        }
    }

    static let fixtures = ["model.safetensors", "model_positions.safetensors"]

    @Test("the position-features fixture is such a model")
    func positionFixture() throws {
        #expect(try Reference("model_positions.safetensors").configuration.positionFeatures)
        #expect(try !Reference("model.safetensors").configuration.positionFeatures)
    }

    @Test("loss, packed logits, running statistics and every gradient match PyTorch", arguments: fixtures)
    func lossAndGradients(fixture: String) throws {
        let reference = try Reference(fixture)
        var model = reference.model
        var generator = SeededGenerator(seed: 1)
        let result = model.lossAndGradients(for: reference.batch, mode: .training, using: &generator)

        let expectedLoss = try reference.tensor("output.loss")[flat: 0]
        let expectedCrossEntropy = try reference.tensor("output.cross_entropy")[flat: 0]
        let expectedPenalty = try reference.tensor("output.attention_penalty")[flat: 0]
        let relativeLoss = abs(result.loss.total - expectedLoss) / abs(expectedLoss)
        print("reference: loss \(result.loss.total) vs \(expectedLoss), relative difference \(relativeLoss)")
        #expect(relativeLoss <= 1e-4, "loss \(result.loss.total), PyTorch \(expectedLoss)")
        #expect(abs(result.loss.crossEntropy - expectedCrossEntropy) <= 1e-4 * abs(expectedCrossEntropy))
        #expect(abs(result.loss.attentionPenalty - expectedPenalty) <= 1e-4 * abs(expectedPenalty) + 1e-6)

        let targets = try reference.file.int64s(named: "output.targets").values
        #expect(result.layout.tokenCount == targets.count)
        let logits = try reference.tensor("output.logits")
        let logitsDifference = difference(result.packedLogits, logits)
        print("reference: logits max |Δ| \(logitsDifference.maxAbsolute) (scale \(logits.maxAbsolute()))")
        assertClose(result.packedLogits, logits, absoluteTolerance: 1e-4 * Double(logits.maxAbsolute()),
                    relativeTolerance: 1e-4, name: "packed logits")

        for path in model.bufferPaths {
            assertClose(model[keyPath: path.buffer], try reference.tensor("output.buffer." + path.name),
                        absoluteTolerance: 1e-5, relativeTolerance: 1e-4, name: path.name + " after the forward pass")
        }

        var worst = (name: "", difference: 0.0)
        var worstAbsolute = (name: "", difference: 0.0)
        for (name, gradient) in result.gradients.named(for: model) {
            let expected = try reference.tensor("grad.param." + name)
            // 1e-3 relative to the tensor's scale: elements near zero are compared absolutely.
            let scale = Double(max(expected.maxAbsolute(), 1e-3))
            let measured = difference(gradient, expected)
            if measured.maxAbsolute / scale > worst.difference { worst = (name, measured.maxAbsolute / scale) }
            if measured.maxAbsolute > worstAbsolute.difference { worstAbsolute = (name, measured.maxAbsolute) }
            assertClose(gradient, expected, absoluteTolerance: 1e-3 * scale, relativeTolerance: 1e-3, name: "gradient of " + name)
        }
        let imagesGradient = try reference.tensor("grad.images")
        assertClose(result.imagesGradient, imagesGradient, absoluteTolerance: 1e-3 * Double(imagesGradient.maxAbsolute()),
                    relativeTolerance: 1e-3, name: "gradient of the images")
        print("reference: largest gradient max |Δ| \(worstAbsolute.difference) (\(worstAbsolute.name)); "
              + "largest relative to the tensor's max |g| (floor 1e-3) \(worst.difference) (\(worst.name)); images max |Δ| "
              + "\(difference(result.imagesGradient, imagesGradient).maxAbsolute) (scale \(imagesGradient.maxAbsolute()))")
    }

    @Test("inference mode: packed logits, loss and greedy decoding match PyTorch's eval mode", arguments: fixtures)
    func inferenceMode(fixture: String) throws {
        let reference = try Reference(fixture)
        var model = reference.model
        var generator = SeededGenerator(seed: 3)
        let result = model.lossAndGradients(for: reference.batch, mode: .inference, using: &generator)
        let logits = try reference.tensor("eval.logits")
        assertClose(result.packedLogits, logits, absoluteTolerance: 1e-4 * Double(logits.maxAbsolute()),
                    relativeTolerance: 1e-4, name: "inference-mode packed logits")
        let expectedLoss = try reference.tensor("eval.loss")[flat: 0]
        #expect(abs(result.loss.total - expectedLoss) <= 1e-4 * abs(expectedLoss))
        let evaluated = reference.model.evaluateLoss(for: reference.batch)
        #expect(abs(evaluated.total - expectedLoss) <= 1e-4 * abs(expectedLoss))
        #expect(abs(evaluated.crossEntropy - (try reference.tensor("eval.cross_entropy")[flat: 0])) <= 1e-4 * abs(expectedLoss))

        let greedy = try reference.file.int64s(named: "eval.greedy")
        let expectedLogProbabilities = try reference.tensor("eval.greedy_log_probs") // [N, steps, V]
        let (imageCount, steps) = (greedy.shape[0], greedy.shape[1])
        let vocabularySize = reference.configuration.vocabularySize
        var state = reference.model.encode(reference.batch.images).initialState()
        var tokens = [Int32](repeating: 1, count: imageCount)
        var worst: Double = 0
        for step in 0..<steps {
            let output = reference.model.decodeStep(tokens: tokens, state: state)
            for image in 0..<imageCount {
                let row = output.logProbabilities.row(image)
                let expected = expectedLogProbabilities.row(image).row(step)
                worst = max(worst, difference(row, expected).maxAbsolute)
                assertClose(row, expected, absoluteTolerance: 1e-5, relativeTolerance: 1e-4,
                            name: "log probabilities of image \(image) at step \(step)")
                var best = 0
                for index in 0..<vocabularySize where row[index] > row[best] { best = index }
                tokens[image] = Int32(best)
                #expect(Int64(best) == greedy.values[image * steps + step], "greedy word of image \(image) at step \(step)")
            }
            state = output.state
        }
        print("reference: inference loss \(result.loss.total) vs \(expectedLoss); greedy log-probability max |Δ| \(worst)")
    }

    @Test("ten Adam steps with clipping give PyTorch's losses", arguments: fixtures)
    func adamSteps(fixture: String) throws {
        let reference = try Reference(fixture)
        let settings = try JSONSerialization.jsonObject(with: Data(reference.file.metadata["training"]!.utf8)) as! [String: Any]
        var trainer = Trainer(model: reference.model,
                              optimizer: Adam(learningRate: settings["learningRate"] as! Double),
                              maxGradientNorm: Float(settings["maxGradientNorm"] as! Double))
        let expected = try reference.tensor("train.losses").scalars
        var generator = SeededGenerator(seed: 2)
        var worst: Float = 0
        for (step, expectedLoss) in expected.enumerated() {
            let loss = trainer.step(reference.batch, using: &generator).loss
            let relative = abs(loss - expectedLoss) / abs(expectedLoss)
            worst = max(worst, relative)
            #expect(relative <= 1e-3, "step \(step): loss \(loss), PyTorch \(expectedLoss)")
        }
        print("reference: 10 Adam steps, worst relative loss difference \(worst)")
    }
}
