import GlimpseLayers
import GlimpseModel
import GlimpseTensor
import GlimpseTestSupport
import Testing

/// A padded batch against one caption at a time.
///
/// What is comparable: the batch loss is CE summed over all tokens / total tokens plus
/// λ · penalty summed over captions / caption count, so one-caption runs normalised by
/// the batch's totals (`LossNormalization`) must add up to it, in loss and in every
/// gradient. Dropout is off. BatchNorm couples the images of a batch in training mode,
/// so two cases: inference mode (running statistics), where each caption runs with its
/// own image alone; and training mode, where each caption runs with all the batch's
/// images (same batch statistics), so that only the decoder's rows differ.
@Suite("Padded batches")
struct PaddedBatchTests {
    static let configuration = ModelFixtures.tinyConfiguration()

    static func compare(_ batchResult: ForwardBackwardResult, _ summedLoss: Double,
                        _ summedGradients: CaptioningModel.Gradients, _ summedImagesGradient: Tensor,
                        model: CaptioningModel) {
        #expect(abs(Double(batchResult.loss.total) - summedLoss) <= 1e-5 * abs(summedLoss),
                "batch loss \(batchResult.loss.total), sum of per-caption losses \(summedLoss)")
        for path in model.parameterPaths {
            let expected = summedGradients[keyPath: path.gradient]
            assertClose(batchResult.gradients[keyPath: path.gradient], expected,
                        absoluteTolerance: 1e-5 * Double(max(expected.maxAbsolute(), 1e-2)), relativeTolerance: 1e-4,
                        name: "gradient of \(path.name)")
        }
        assertClose(batchResult.imagesGradient, summedImagesGradient,
                    absoluteTolerance: 1e-5 * Double(max(summedImagesGradient.maxAbsolute(), 1e-2)), relativeTolerance: 1e-4,
                    name: "gradient of the images")
    }

    // Three images; image 1 has three captions, image 2 none; lengths tie and differ.
    static let lengths = [4, 1, 4, 2, 6, 3]
    static let imageIndices = [1, 0, 1, 0, 1, 0]

    @Test("inference mode: the batch equals one image and one caption at a time")
    func inferenceMode() {
        let model = ModelFixtures.model(Self.configuration, seed: 10)
        let batch = ModelFixtures.batch(Self.configuration, imageCount: 3, lengths: Self.lengths,
                                        imageIndices: Self.imageIndices, seed: 11)
        var generator = SeededGenerator(seed: 12)
        var batchModel = model
        let batchResult = batchModel.lossAndGradients(for: batch, mode: .inference, using: &generator)
        #expect(batchResult.layout.batchSizes == [6, 6, 5, 4, 3, 1, 1])
        #expect(batchResult.layout.order == [4, 0, 2, 5, 3, 1])

        let normalization = LossNormalization(tokenCount: batch.tokenCount, captionCount: batch.captions.count)
        var summedLoss = 0.0
        var summedGradients = model.zeroGradients()
        var summedImagesGradient = Tensor(zeros: batch.images.shape)
        for caption in batch.captions {
            let image = caption.imageIndex
            let single = CaptionBatch(images: batch.images.rows(image..<(image + 1)),
                                      captions: [CaptionBatch.Caption(imageIndex: 0, tokens: caption.tokens)])
            var singleModel = model
            let result = singleModel.lossAndGradients(for: single, mode: .inference, normalization: normalization,
                                                      using: &generator)
            summedLoss += Double(result.loss.total)
            for path in model.parameterPaths { summedGradients[keyPath: path.gradient] += result.gradients[keyPath: path.gradient] }
            var imageGradient = summedImagesGradient.rows(image..<(image + 1))
            imageGradient += result.imagesGradient
            summedImagesGradient.setRows(startingAt: image, to: imageGradient)
        }
        Self.compare(batchResult, summedLoss, summedGradients, summedImagesGradient, model: model)
        // An image without captions gets no gradient.
        #expect(batchResult.imagesGradient.rows(2..<3).maxAbsolute() == 0)
    }

    @Test("training mode: the batch equals one caption at a time over the same images")
    func trainingMode() {
        let model = ModelFixtures.model(Self.configuration, seed: 20)
        let batch = ModelFixtures.batch(Self.configuration, imageCount: 3, lengths: Self.lengths,
                                        imageIndices: Self.imageIndices, seed: 21)
        var generator = SeededGenerator(seed: 22)
        var batchModel = model
        let batchResult = batchModel.lossAndGradients(for: batch, mode: .training, using: &generator)

        let normalization = LossNormalization(tokenCount: batch.tokenCount, captionCount: batch.captions.count)
        var summedLoss = 0.0
        var summedGradients = model.zeroGradients()
        var summedImagesGradient = Tensor(zeros: batch.images.shape)
        for caption in batch.captions {
            var singleModel = model
            let result = singleModel.lossAndGradients(for: CaptionBatch(images: batch.images, captions: [caption]),
                                                      mode: .training, normalization: normalization, using: &generator)
            summedLoss += Double(result.loss.total)
            for path in model.parameterPaths { summedGradients[keyPath: path.gradient] += result.gradients[keyPath: path.gradient] }
            summedImagesGradient += result.imagesGradient
            // Same images, same batch statistics: the running statistics move identically.
            for path in model.bufferPaths { #expect(singleModel[keyPath: path.buffer] == batchModel[keyPath: path.buffer]) }
        }
        Self.compare(batchResult, summedLoss, summedGradients, summedImagesGradient, model: model)
    }

    @Test("caption order in the batch does not matter")
    func orderInvariance() {
        let model = ModelFixtures.model(Self.configuration, seed: 30)
        let batch = ModelFixtures.batch(Self.configuration, imageCount: 2, lengths: [2, 5, 3, 5], seed: 31)
        let reversed = CaptionBatch(images: batch.images, captions: batch.captions.reversed())
        var generator = SeededGenerator(seed: 32)
        var first = model, second = model
        let a = first.lossAndGradients(for: batch, mode: .training, using: &generator)
        let b = second.lossAndGradients(for: reversed, mode: .training, using: &generator)
        #expect(abs(a.loss.total - b.loss.total) <= 1e-6 * abs(a.loss.total))
        for path in model.parameterPaths {
            assertClose(a.gradients[keyPath: path.gradient], b.gradients[keyPath: path.gradient],
                        absoluteTolerance: 1e-6, relativeTolerance: 1e-4, name: path.name)
        }
    }
}

@Suite("Whole-model gradient check")
struct ModelGradientCheckTests {
    /// Central differences at a few entries of a tensor: the three with the largest
    /// analytic gradient and two more drawn at random.
    ///
    /// Why a few entries and these tolerances: the loss is computed in float32 (noise
    /// about 1e-7 of Σ|terms|, so ~1e-4 on a numeric gradient at step 1e-3), and every
    /// ReLU and max-pool window is a kink that a perturbation of an early convolution
    /// weight almost surely crosses somewhere in the batch. The largest gradients stand
    /// well above both; element-wise agreement of every gradient is what the PyTorch
    /// fixture checks (ReferenceTests).
    static func check(_ name: String, analytic: Tensor, at value: Tensor, generator: inout SeededGenerator,
                      loss: (Tensor) -> Double) -> Double {
        let magnitudes = analytic.scalars.enumerated().sorted { abs($0.element) > abs($1.element) }
        var indices = magnitudes.prefix(3).map(\.offset)
        for _ in 0..<2 { indices.append(generator.nextIndex(below: value.scalarCount)) }
        let step: Float = 1e-3
        var worst = 0.0
        for index in indices {
            var perturbed = value
            let original = value[flat: index]
            perturbed[flat: index] = original + step
            let up = loss(perturbed)
            perturbed[flat: index] = original - step
            let down = loss(perturbed)
            let numeric = (up - down) / (Double(original + step) - Double(original - step))
            let exact = Double(analytic[flat: index])
            let error = abs(exact - numeric) / max(abs(exact), abs(numeric), 1e-2)
            worst = max(worst, error)
            #expect(error <= 3e-2, "\(name)[\(index)]: analytic \(exact), numeric \(numeric)")
        }
        return worst
    }

    @Test("a few entries of every parameter tensor and of the images match central differences (training mode, tiny model)")
    func gradientCheck() {
        let configuration = ModelFixtures.tinyConfiguration(lambda: 0.7)
        let model = ModelFixtures.model(configuration, seed: 40)
        let batch = ModelFixtures.batch(configuration, imageCount: 2, lengths: [3, 1, 2], imageIndices: [0, 1, 0], seed: 41)
        var generator = SeededGenerator(seed: 42)
        var analyticModel = model
        let result = analyticModel.lossAndGradients(for: batch, mode: .training, using: &generator)

        func loss(_ model: CaptioningModel, _ images: Tensor) -> Double {
            var copy = model
            var unused = SeededGenerator(seed: 0)
            return Double(copy.lossAndGradients(for: CaptionBatch(images: images, captions: batch.captions),
                                                mode: .training, using: &unused).loss.total)
        }
        var worst = (name: "", error: 0.0)
        for path in model.parameterPaths {
            let error = Self.check(path.name, analytic: result.gradients[keyPath: path.gradient],
                                   at: model[keyPath: path.parameter], generator: &generator) { value in
                var perturbed = model
                perturbed[keyPath: path.parameter] = value
                return loss(perturbed, batch.images)
            }
            if error > worst.error { worst = (path.name, error) }
        }
        let imagesError = Self.check("images", analytic: result.imagesGradient, at: batch.images, generator: &generator) {
            loss(model, $0)
        }
        print("gradient check: worst parameter \(worst.name) \(worst.error), images \(imagesError)")
    }
}
