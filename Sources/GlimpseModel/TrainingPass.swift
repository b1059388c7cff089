import GlimpseText
import GlimpseLayers
import GlimpseTensor

/// The loss of one batch, in its parts.
public struct LossBreakdown: Sendable, Equatable {
    /// crossEntropy + λ · attentionPenalty + β · wordDetection: what the gradients are of.
    public var total: Float
    /// Mean over predicted tokens of −log p(target).
    public var crossEntropy: Float
    /// Mean over captions of Σ_p (1 − Σ_t α_tp)², before the weight λ.
    public var attentionPenalty: Float
    /// The word-detection loss (`WordDetection`) before its weight β; 0 without the head.
    public var wordDetection: Float = 0
    /// Tokens predicted (words plus `<end>`), and captions, in this batch.
    public var tokenCount: Int
    public var captionCount: Int
}

/// What the means of the loss divide by. By default a batch's own token and caption
/// counts; for gradient accumulation over micro-batches, the whole batch's, so the
/// micro-batches' losses and gradients simply add up.
public struct LossNormalization: Sendable, Equatable {
    public var tokenCount: Int
    public var captionCount: Int
    /// The whole batch's images, which the word-detection loss is the mean over (a data-parallel
    /// rank's share, whose images may have more or fewer captions than the batch's average); nil:
    /// this batch's images × captionCount / its captions (gradient accumulation's micro-batches).
    public var imageCount: Int?

    public init(tokenCount: Int, captionCount: Int, imageCount: Int? = nil) {
        precondition(tokenCount > 0 && captionCount > 0 && (imageCount ?? 1) > 0, "loss normalisation needs positive counts")
        self.tokenCount = tokenCount
        self.captionCount = captionCount
        self.imageCount = imageCount
    }
}

/// The outcome of `CaptioningModel.lossAndGradients`.
public struct ForwardBackwardResult: Sendable {
    public var loss: LossBreakdown
    /// dL/dparameter for every parameter, L being `loss.total` (with the normalisation given).
    public var gradients: CaptioningModel.Gradients
    /// dL/dimages, [N, 3, S, S]; shape [0] when `lossAndGradients` was told not to compute it.
    public var imagesGradient: Tensor
    /// Logits of every predicted token, [Σ B_t, V], packed as `layout` says.
    public var packedLogits: Tensor
    public var layout: PackedLayout
}

extension CaptioningModel {
    /// Forward and backward over a batch, teacher-forced (input `<start> w1 … wn`,
    /// target `w1 … wn <end>`), optionally with scheduled sampling.
    ///
    /// The encoder runs once per image; features, their attention projection and the
    /// initial states are gathered per caption, and their gradients scatter-summed back
    /// per image. Captions are sorted longest first and step t runs only the B_t rows
    /// still active, so padding never enters the computation or the loss.
    ///
    /// - Parameters:
    ///   - mode: `.training` uses batch statistics in BatchNorm (and updates the running
    ///     ones, hence `mutating`) and dropout; `.inference` uses neither.
    ///   - samplingProbability: the probability, per row and step after the first, of
    ///     feeding the model's own greedy prediction from the previous step instead of
    ///     the true word (Bengio et al. 2015). No gradient flows through the choice.
    ///   - normalization: the counts the means divide by; the batch's own by default.
    ///   - generator: drives dropout masks and the sampling choices, in that order per step.
    ///   - computingImagesGradient: whether to compute dL/dimages. Training never uses it
    ///     (`Trainer.step` passes false), and it costs a full-resolution convolution; it is
    ///     kept for the whole-model gradient checks, which compare it with finite differences
    ///     through the images (`PaddedBatchTests`, `WordDetectionTests`).
    ///   - captionWeights: per caption (in `batch.captions` order), a weight w_c: the
    ///     cross-entropy term becomes Σ_c w_c Σ_t −log p(y_ct) / captions, the policy-gradient
    ///     loss of self-critical training (w_c = the caption's advantage, as `SelfCritical` sets it).
    ///     nil: the mean over tokens.
    ///   - trainingEncoder: false leaves the encoder's gradients zero and skips its backward
    ///     pass (the encoder is frozen), which also skips dL/dimages.
    public mutating func lossAndGradients(for batch: CaptionBatch, mode: Mode, samplingProbability: Float = 0,
                                          normalization: LossNormalization? = nil,
                                          computingImagesGradient: Bool = true,
                                          captionWeights: [Float]? = nil, trainingEncoder: Bool = true,
                                          using generator: inout SeededGenerator) -> ForwardBackwardResult {
        let configuration = configuration
        let (imageSize, vocabularySize) = (configuration.imageSize, configuration.vocabularySize)
        precondition(batch.isEncoded || batch.images.shape.dropFirst().elementsEqual([3, imageSize, imageSize]),
                     "batch images \(batch.images.shape) do not fit the model's input [N, 3, \(imageSize), \(imageSize)]")
        precondition(!batch.captions.isEmpty, "a batch needs at least one caption")
        precondition(batch.captions.allSatisfy { $0.tokens.allSatisfy { $0 >= 0 && Int($0) < vocabularySize } },
                     "caption token outside the vocabulary 0..<\(vocabularySize)")
        let layout = PackedLayout(captions: batch.captions)
        let rowCount = batch.captions.count

        // MARK: Forward
        let (features, encoderPass) = trainingFeatures(batch, mode: mode) // [N, P, D]
        let (logits, decoderCache) = decoder.forward( // [Σ B_t, V]
            features: features, captions: batch.captions, layout: layout, mode: mode,
            samplingProbability: samplingProbability, using: &generator)

        // MARK: Loss
        var gradients = zeroGradients()
        let captionLoss = CaptionLoss(attentionRegularization: configuration.attentionRegularization,
                                      tokenNormalizer: normalization?.tokenCount ?? layout.tokenCount,
                                      captionNormalizer: normalization?.captionCount ?? rowCount)
        if let captionWeights {
            precondition(captionWeights.count == rowCount, "\(captionWeights.count) caption weights for \(rowCount) captions")
        }
        let (crossEntropy, logitsGradient) = captionLoss.crossEntropy( // [Σ B_t, V]
            logits: logits, targets: layout.targets(captions: batch.captions), rowWeights: captionWeights.map(layout.packedRows))
        let (penalty, weightsGradient) = captionLoss.attentionPenalty( // dL/dα_t, [B, P]
            attentionSums: decoderCache.attentionSums)
        let lambda = configuration.attentionRegularization
        var loss = LossBreakdown(total: crossEntropy + lambda * penalty, crossEntropy: crossEntropy,
                                 attentionPenalty: penalty, tokenCount: layout.tokenCount, captionCount: rowCount)

        var wordFeaturesGradient: Tensor? = nil // [N, P, D]
        if wordDetector != nil, captionWeights == nil { // sampled captions are no word targets
            wordFeaturesGradient = wordDetectionLoss(features, batch: batch, captionNormalizer: captionLoss.captionNormalizer,
                                                     imageNormalizer: normalization?.imageCount,
                                                     loss: &loss, gradients: &gradients)
        }

        // MARK: Backward, in reverse
        // dL/da only when an encoder trains on it (not a frozen pretrained one, nor cached features).
        let encoderTrains = trainingEncoder && !encoderPass.isFrozen
        var featuresGradient = decoder.backward(logitsGradient, weightsGradient: weightsGradient, // [N, P, D]
                                                cache: consume decoderCache, into: &gradients.decoder,
                                                computingFeaturesGradient: encoderTrains)
        if let wordFeaturesGradient, encoderTrains { featuresGradient += wordFeaturesGradient }
        var imagesGradient = Tensor(zeros: [0])
        if encoderTrains {
            switch consume encoderPass {
            case .smallCNN(let cache):
                imagesGradient = encoderBackward(featuresGradient, cache: cache, computingImagesGradient: computingImagesGradient,
                                                 into: &gradients.encoder)
            case .tail(let cache):
                encoderTail!.backward(featuresGradient, cache: cache, into: &gradients.encoderTail!)
            case .frozen:
                break
            }
        }
        return ForwardBackwardResult(loss: loss, gradients: gradients, imagesGradient: imagesGradient,
                                     packedLogits: logits, layout: layout)
    }

    /// What the encoder's backward needs of a training pass, by the part of it that trains.
    private enum EncoderPass {
        /// Nothing trains: a frozen pretrained encoder.
        case frozen
        case smallCNN(Encoder.Cache)
        /// The pretrained encoder's last stages (`encoderTail`).
        case tail(ResNetTail.Cache)

        var isFrozen: Bool {
            if case .frozen = self { return true }
            return false
        }
    }

    /// The features a training pass runs on, [N, P, D], with the cache of the encoder's part that
    /// trains with the decoder. A batch of cached inputs (`CaptionBatch.isEncoded`) holds the
    /// features themselves, or, when the encoder's last stages train, those stages' input.
    private mutating func trainingFeatures(_ batch: CaptionBatch, mode: Mode) -> (Tensor, EncoderPass) {
        if let encoderTail, let stage = configuration.pretrainedEncoder?.trainableFromStage {
            let input = batch.isEncoded ? batch.images : pretrainedEncoder!.stageInput(batch.images, stage: stage)
            let expected = pretrainedEncoder!.architecture.stageInputShape(stage, imageSize: configuration.imageSize)
            precondition(input.shape.dropFirst().elementsEqual(expected),
                         "batch inputs \(input.shape) do not fit stage \(stage)'s input [N] + \(expected)")
            let (features, cache) = encoderTail.forward(input, positions: configuration.positionFeatures)
            return (features, .tail(cache))
        }
        if batch.isEncoded {
            let (locations, featureSize) = (configuration.locationCount, configuration.featureSize)
            precondition(batch.images.shape.dropFirst().elementsEqual([locations, featureSize]),
                         "batch features \(batch.images.shape) do not fit the model's [N, \(locations), \(featureSize)]")
            return (batch.images, .frozen)
        }
        if pretrainedEncoder != nil { return (features(of: batch.images), .frozen) }
        let (features, cache) = encoder.forward(batch.images, mode: mode)
        return (features, .smallCNN(cache))
    }

    /// Word detection: β · mean over images and words of BCE(max_p s_npw, y_nw), added to `loss`, its
    /// head's gradients accumulated; returns its dL/da [N, P, D]. Images are counted as the caption
    /// normaliser counts captions (the whole batch's, when accumulating).
    private func wordDetectionLoss(_ features: Tensor, batch: CaptionBatch, captionNormalizer: Int, imageNormalizer: Int?,
                                   loss: inout LossBreakdown, gradients: inout Gradients) -> Tensor {
        let (imageCount, rowCount, vocabularySize) = (batch.imageCount, batch.captions.count, configuration.vocabularySize)
        let beta = configuration.wordLossWeight
        let imageNormalizer = imageNormalizer.map(Double.init) ?? Double(imageCount) * Double(captionNormalizer) / Double(rowCount)
        let wordCount = Double(max(vocabularySize - WordDetection.firstWordID, 1))
        let (wordLogits, detectorCache) = wordDetector!.forward(features) // [N, P, V]
        let targets = WordDetection.targets(captions: batch.captions, imageCount: imageCount, vocabularySize: vocabularySize)
        let (sum, logitsGradient) = WordDetection.loss(
            logits: wordLogits, targets: targets, gradientScale: beta / Float(imageNormalizer * wordCount))
        loss.wordDetection = Float(sum / (imageNormalizer * wordCount))
        loss.total += beta * loss.wordDetection
        return wordDetector!.backward(logitsGradient!, cache: detectorCache, into: &gradients.wordDetector!)
    }

    /// The small CNN's backward: its gradients, and dL/dimages when asked (else an empty tensor).
    private func encoderBackward(_ featuresGradient: Tensor, cache: consuming Encoder.Cache, computingImagesGradient: Bool,
                                 into gradients: inout Encoder.Gradients) -> Tensor {
        if computingImagesGradient { return encoder.backward(featuresGradient, cache: cache, into: &gradients) }
        encoder.backwardParameters(featuresGradient, cache: cache, into: &gradients)
        return Tensor(zeros: [0])
    }
}