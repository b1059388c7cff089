import GlimpseData
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

    public init(tokenCount: Int, captionCount: Int) {
        precondition(tokenCount > 0 && captionCount > 0, "loss normalisation needs positive counts")
        self.tokenCount = tokenCount
        self.captionCount = captionCount
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
    ///     (`Trainer.step` passes false), and it costs a full-resolution convolution.
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
        precondition(batch.images.shape.dropFirst().elementsEqual([3, imageSize, imageSize]),
                     "batch images \(batch.images.shape) do not fit the model's input [N, 3, \(imageSize), \(imageSize)]")
        precondition(!batch.captions.isEmpty, "a batch needs at least one caption")
        precondition(batch.captions.allSatisfy { $0.tokens.allSatisfy { $0 >= 0 && Int($0) < vocabularySize } },
                     "caption token outside the vocabulary 0..<\(vocabularySize)")
        let layout = PackedLayout(captions: batch.captions)
        let imageCount = batch.images.shape[0]
        let (locations, featureSize, hiddenSize) =
            (configuration.locationCount, configuration.featureSize, configuration.hiddenSize)
        let rowCount = batch.captions.count
        let sortedTokens = layout.order.map { batch.captions[$0].tokens }

        // MARK: Encoder and per-image decoder inputs
        let (features, encoderCache) = encoder.forward(batch.images, mode: mode) // [N, P, D]
        let (projected, projectionCache) = decoder.attention.forwardProjection(features) // [N, P, A]
        let meanFeatures = features.sum(alongAxis: 1).scaled(by: 1 / Float(locations)) // [N, D]
        let (initialHidden, initialHiddenCache) = decoder.initialHidden.forward(meanFeatures) // [N, H]
        let (initialCell, initialCellCache) = decoder.initialCell.forward(meanFeatures) // [N, H]
        var state = LSTMCell.State(hidden: initialHidden.gatheringRows(layout.rowImages),
                                   cell: initialCell.gatheringRows(layout.rowImages)) // [B, H]

        // MARK: Decoder steps over the shrinking active batch
        var stepCaches: [Decoder.StepCache] = []
        stepCaches.reserveCapacity(layout.stepCount)
        // Features and projections gathered per caption, once per distinct active batch size.
        var segmentFeatures = Tensor(zeros: [0, locations, featureSize]) // [B_t, P, D]
        var segmentProjected = Tensor(zeros: [0, locations, configuration.attentionSize]) // [B_t, P, A]
        var packedHidden = Tensor(zeros: [layout.tokenCount, hiddenSize]) // dropout(h_t), packed
        var attentionSums = Tensor(zeros: [rowCount, locations]) // Σ_t α_t, [B, P]
        var previousLogits: Tensor? = nil // [B_{t−1}, V], only when sampling
        let sampling = samplingProbability > 0
        for step in 0..<layout.stepCount {
            let active = layout.batchSizes[step]
            if active != segmentFeatures.shape[0] {
                segmentFeatures = features.gatheringRows(layout.rowImages[0..<active])
                segmentProjected = projected.gatheringRows(layout.rowImages[0..<active])
            }
            if active < state.hidden.shape[0] {
                state = LSTMCell.State(hidden: state.hidden.rows(0..<active), cell: state.cell.rows(0..<active))
            }
            var inputs = [Int](repeating: Int(Vocabulary.startID), count: active)
            if step > 0 {
                let predictions = sampling ? previousLogits!.rowArgmax(rows: active) : []
                for row in 0..<active {
                    inputs[row] = Int(sortedTokens[row][step - 1])
                    if sampling && generator.nextUnitFloat() < samplingProbability { inputs[row] = predictions[row] }
                }
            }
            let (output, cache) = decoder.forwardStep(tokens: inputs, features: segmentFeatures,
                                                      projectedFeatures: segmentProjected, state: state, mode: mode,
                                                      using: &generator)
            attentionSums.addIntoLeadingRows(output.attentionWeights)
            packedHidden.setRows(startingAt: layout.offsets[step], to: output.dropped)
            // The greedy prediction is the argmax of the logits the loss sees at this step
            // (dropout included); packed, they are recomputed below with a cache for backward.
            if sampling { previousLogits = decoder.output(output.dropped) }
            stepCaches.append(cache)
            state = output.state
        }
        let (logits, outputCache) = decoder.output.forward(packedHidden) // [Σ B_t, V]

        // MARK: Loss
        var gradients = zeroGradients()
        let captionLoss = CaptionLoss(attentionRegularization: configuration.attentionRegularization,
                                      tokenNormalizer: normalization?.tokenCount ?? layout.tokenCount,
                                      captionNormalizer: normalization?.captionCount ?? rowCount)
        let captionNormalizer = captionLoss.captionNormalizer
        if let captionWeights {
            precondition(captionWeights.count == rowCount, "\(captionWeights.count) caption weights for \(rowCount) captions")
        }
        let (crossEntropy, logitsGradient) = captionLoss.crossEntropy( // [Σ B_t, V]
            logits: logits, targets: layout.targets(captions: batch.captions), rowWeights: captionWeights.map(layout.packedRows))
        let (penalty, weightsGradient) = captionLoss.attentionPenalty(attentionSums: attentionSums) // dL/dα_t, [B, P]
        let lambda = configuration.attentionRegularization
        var loss = LossBreakdown(total: crossEntropy + lambda * penalty, crossEntropy: crossEntropy,
                                 attentionPenalty: penalty, tokenCount: layout.tokenCount, captionCount: rowCount)

        // Word detection: β · mean over images and words of BCE(max_p s_npw, y_nw). Images are
        // counted as the caption normaliser counts captions (the whole batch's, when accumulating).
        var wordFeaturesGradient: Tensor? = nil // [N, P, D]
        if let wordDetector, captionWeights == nil { // sampled captions are no word targets
            let beta = configuration.wordLossWeight
            let imageNormalizer = Double(imageCount) * Double(captionNormalizer) / Double(rowCount)
            let wordCount = Double(max(vocabularySize - WordDetection.firstWordID, 1))
            let (wordLogits, detectorCache) = wordDetector.forward(features) // [N, P, V]
            let targets = WordDetection.targets(captions: batch.captions, imageCount: imageCount,
                                                vocabularySize: vocabularySize)
            let (sum, logitsGradient) = WordDetection.loss(
                logits: wordLogits, targets: targets, gradientScale: beta / Float(imageNormalizer * wordCount))
            loss.wordDetection = Float(sum / (imageNormalizer * wordCount))
            loss.total += beta * loss.wordDetection
            wordFeaturesGradient = wordDetector.backward(logitsGradient!, cache: detectorCache,
                                                         into: &gradients.wordDetector!)
        }

        // MARK: Backward through time
        let packedHiddenGradient = decoder.output.backward(logitsGradient, cache: outputCache,
                                                           into: &gradients.decoder.output) // [Σ B_t, H]
        let imageFeatureGradientsTemplate = decoder.attention.zeroFeatureGradients(for: projectionCache)
        var imageFeatureGradients = imageFeatureGradientsTemplate // [N, P, D] and [N, P, A]
        var segmentGradients = imageFeatureGradientsTemplate
        var segmentSize = 0
        func flushSegment(_ segment: SoftAttention.FeatureGradients, size: Int) {
            guard size > 0 else { return }
            imageFeatureGradients.features.scatterAddRows(segment.features, to: layout.rowImages[0..<size])
            imageFeatureGradients.projectedFeatures.scatterAddRows(segment.projectedFeatures, to: layout.rowImages[0..<size])
        }
        // dL/d(h_t, c_t) from step t + 1, [B_{t+1}, H] each.
        var stateGradient = LSTMCell.State(hidden: Tensor(zeros: [0, hiddenSize]), cell: Tensor(zeros: [0, hiddenSize]))
        for step in stride(from: layout.stepCount - 1, through: 0, by: -1) {
            let active = layout.batchSizes[step]
            if active != segmentSize {
                flushSegment(segmentGradients, size: segmentSize)
                segmentGradients.features = Tensor(zeros: [active, locations, featureSize])
                segmentGradients.projectedFeatures = Tensor(zeros: [active, locations, configuration.attentionSize])
                segmentSize = active
            }
            let offset = layout.offsets[step]
            stateGradient = decoder.backwardStep(
                droppedGradient: packedHiddenGradient.rows(offset..<(offset + active)), laterGradient: stateGradient,
                weightsGradient: active == rowCount ? weightsGradient : weightsGradient.rows(0..<active),
                cache: stepCaches[step], into: &gradients.decoder, featureGradients: &segmentGradients)
        }
        flushSegment(segmentGradients, size: segmentSize)
        stepCaches.removeAll()

        // MARK: Back to the images
        var initialHiddenGradient = Tensor(zeros: [imageCount, hiddenSize])
        initialHiddenGradient.scatterAddRows(stateGradient.hidden, to: layout.rowImages)
        var initialCellGradient = Tensor(zeros: [imageCount, hiddenSize])
        initialCellGradient.scatterAddRows(stateGradient.cell, to: layout.rowImages)
        var meanGradient = decoder.initialHidden.backward(initialHiddenGradient, cache: initialHiddenCache,
                                                          into: &gradients.decoder.initialHidden) // [N, D]
        meanGradient += decoder.initialCell.backward(initialCellGradient, cache: initialCellCache,
                                                     into: &gradients.decoder.initialCell)
        var featuresGradient = decoder.attention.backwardProjection(imageFeatureGradients, cache: projectionCache,
                                                                    into: &gradients.decoder.attention) // [N, P, D]
        featuresGradient.withUnsafeMutableBufferPointer { target in
            meanGradient.withUnsafeBufferPointer { mean in
                let scale = 1 / Float(locations)
                for image in 0..<imageCount {
                    for location in 0..<locations {
                        BLAS.saxpy(count: featureSize, alpha: scale, x: mean.baseAddress! + image * featureSize,
                                   y: target.baseAddress! + (image * locations + location) * featureSize)
                    }
                }
            }
        }
        if let wordFeaturesGradient { featuresGradient += wordFeaturesGradient }
        let imagesGradient: Tensor
        if !trainingEncoder {
            imagesGradient = Tensor(zeros: [0])
        } else if computingImagesGradient {
            imagesGradient = encoder.backward(featuresGradient, cache: consume encoderCache, into: &gradients.encoder)
        } else {
            encoder.backwardParameters(featuresGradient, cache: consume encoderCache, into: &gradients.encoder)
            imagesGradient = Tensor(zeros: [0])
        }
        return ForwardBackwardResult(loss: loss, gradients: gradients, imagesGradient: imagesGradient,
                                     packedLogits: logits, layout: layout)
    }
}
