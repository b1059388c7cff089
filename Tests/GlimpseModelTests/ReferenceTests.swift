import Foundation
import GlimpseLayers
import GlimpseModel
import GlimpseSafeTensors
import GlimpseTensor
import GlimpseTestSupport
import Testing

/// The model against PyTorch (Scripts/reference_model.py wrote Fixtures/model.safetensors:
/// a float64 reference on a reduced configuration, one padded batch of 3 images and
/// 6 captions, BatchNorm in training mode, dropout off).
@Suite("Show, Attend and Tell against PyTorch")
struct ReferenceTests {
    struct Reference {
        let file: SafeTensorsFile
        let configuration: ModelConfiguration
        let model: CaptioningModel
        let batch: CaptionBatch

        init() throws {
            file = try SafeTensorsFile(contentsOf: ModelFixtures.fixturePath("model.safetensors"))
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

    @Test("loss, packed logits, running statistics and every gradient match PyTorch")
    func lossAndGradients() throws {
        let reference = try Reference()
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
        for (name, gradient) in result.gradients.named(for: model) {
            let expected = try reference.tensor("grad.param." + name)
            // 1e-3 relative to the tensor's scale: elements near zero are compared absolutely.
            let scale = Double(max(expected.maxAbsolute(), 1e-3))
            let measured = difference(gradient, expected)
            if measured.maxAbsolute / scale > worst.difference { worst = (name, measured.maxAbsolute / scale) }
            assertClose(gradient, expected, absoluteTolerance: 1e-3 * scale, relativeTolerance: 1e-3, name: "gradient of " + name)
        }
        let imagesGradient = try reference.tensor("grad.images")
        assertClose(result.imagesGradient, imagesGradient, absoluteTolerance: 1e-3 * Double(imagesGradient.maxAbsolute()),
                    relativeTolerance: 1e-3, name: "gradient of the images")
        print("reference: worst gradient \(worst.name), max |Δ| / max |g| = \(worst.difference); images max |Δ| "
              + "\(difference(result.imagesGradient, imagesGradient).maxAbsolute) (scale \(imagesGradient.maxAbsolute()))")
    }

    @Test("ten Adam steps with clipping give PyTorch's losses")
    func adamSteps() throws {
        let reference = try Reference()
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
