import GlimpseModel
import GlimpseTensor
import GlimpseTestSupport
import Testing

/// The premise of data-parallel training (`Trainer.dataParallelStep`): each rank's share of a
/// batch, its loss normalised by the whole batch's counts (`LossNormalization`), gives a loss and
/// gradients that add up over the shares to the whole batch's. Checked here in one process, with
/// running-statistics BatchNorm (synchronised BatchNorm's own test is SynchronizedBatchNormTests).
@Suite("Shares of a batch add up to the whole batch")
struct SharedBatchLossTests {
    static let configuration = try! ModelConfiguration(vocabularySize: 9, imageSize: 8, stageChannels: [2, 3],
                                                       embeddingSize: 3, attentionSize: 3, hiddenSize: 4, dropout: 0,
                                                       attentionRegularization: 1, wordLossWeight: 0.7)

    /// The images `indices` of `batch` with their captions.
    static func share(_ batch: CaptionBatch, images indices: [Int]) -> CaptionBatch {
        let plane = batch.images.shape.dropFirst().reduce(1, *)
        let scalars = indices.flatMap { batch.images.scalars[$0 * plane..<($0 + 1) * plane] }
        let captions = batch.captions.compactMap { caption in
            indices.firstIndex(of: caption.imageIndex).map { CaptionBatch.Caption(imageIndex: $0, tokens: caption.tokens) }
        }
        return CaptionBatch(images: Tensor(shape: [indices.count] + batch.images.shape.dropFirst(), scalars: scalars),
                            captions: captions)
    }

    @Test("images with different numbers of captions: the word-detection loss too adds up, given the whole batch's image count")
    func sharesAddUp() {
        var model = ModelFixtures.model(Self.configuration, seed: 61)
        // Image 0 has three captions, images 1 and 2 one each: shares of unequal captions per image.
        let batch = ModelFixtures.batch(Self.configuration, imageCount: 3, lengths: [3, 2, 4, 1, 2],
                                        imageIndices: [0, 1, 0, 2, 0], seed: 62)
        var generator = SeededGenerator(seed: 63)
        let whole = model.lossAndGradients(for: batch, mode: .inference, computingImagesGradient: false, using: &generator)
        let shares = [[0, 2], [1]].map { Self.share(batch, images: $0) }

        func parts(_ normalization: LossNormalization) -> [ForwardBackwardResult] {
            shares.map { model.lossAndGradients(for: $0, mode: .inference, normalization: normalization,
                                                computingImagesGradient: false, using: &generator) }
        }
        let normalization = LossNormalization(tokenCount: batch.tokenCount, captionCount: batch.captions.count, imageCount: 3)
        let results = parts(normalization)
        #expect(abs(results.map(\.loss.total).reduce(0, +) - whole.loss.total) <= 1e-5 * abs(whole.loss.total))
        #expect(abs(results.map(\.loss.wordDetection).reduce(0, +) - whole.loss.wordDetection) <= 1e-6)
        for path in model.parameterPaths {
            let summed = results.dropFirst().reduce(results[0].gradients[keyPath: path.gradient]) { $0 + $1.gradients[keyPath: path.gradient] }
            #expect(assertClose(summed, whole.gradients[keyPath: path.gradient], absoluteTolerance: 1e-6, name: path.name))
        }
        // Without the whole batch's image count, each share guesses it from its own captions per
        // image (as gradient accumulation does): the word loss then does not add up here.
        let guessed = parts(LossNormalization(tokenCount: batch.tokenCount, captionCount: batch.captions.count))
        #expect(abs(guessed.map(\.loss.wordDetection).reduce(0, +) - whole.loss.wordDetection) > 1e-3)
    }
}
