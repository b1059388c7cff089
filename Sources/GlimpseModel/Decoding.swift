import Foundation
import GlimpseText
import GlimpseLayers
import GlimpseTensor

/// The encoder's output for N images, computed once and shared by every decoding row
/// (greedy or beam search). Inference mode: running statistics, no caches.
public struct EncodedImages: Sendable {
    /// a, [N, P, D]
    public let features: Tensor
    /// encoder_att(a), [N, P, A]
    public let projectedFeatures: Tensor
    /// h_0 = init_h(mean_p a), [N, H]
    public let initialHidden: Tensor
    /// c_0 = init_c(mean_p a), [N, H]
    public let initialCell: Tensor

    public var imageCount: Int { features.shape[0] }

    /// The state before the first step for rows decoding `imageIndices` (repeats allowed:
    /// k beams of image i are k rows naming i). Feed `<start>` to the first step.
    public func initialState(imageIndices: [Int]) -> DecoderState {
        DecoderState(images: self, imageIndices: imageIndices,
                     features: features.gatheringRows(imageIndices),
                     projectedFeatures: projectedFeatures.gatheringRows(imageIndices),
                     lstm: LSTMCell.State(hidden: initialHidden.gatheringRows(imageIndices),
                                          cell: initialCell.gatheringRows(imageIndices)))
    }

    /// One row per image, in order.
    public func initialState() -> DecoderState {
        initialState(imageIndices: Array(0..<imageCount))
    }
}

/// The decoder's state for B rows between steps. Rows can be selected, repeated or
/// reordered by index (`selectingRows`), as beam search does after each step.
public struct DecoderState: Sendable {
    /// The encoded images the rows refer to (shared, not copied).
    public let images: EncodedImages
    /// Row → image index, [B].
    public let imageIndices: [Int]
    /// The rows' features [B, P, D] and projections [B, P, A], gathered from `images`.
    public let features: Tensor
    public let projectedFeatures: Tensor
    /// h and c, [B, H] each.
    public let lstm: LSTMCell.State

    public var rowCount: Int { imageIndices.count }

    /// The state of rows `rows` (indices into this state's rows; repeats and any order
    /// allowed). Per-row features are re-gathered only if the rows' images change.
    public func selectingRows(_ rows: [Int]) -> DecoderState {
        let newImages = rows.map { imageIndices[$0] }
        let sameImages = newImages == imageIndices
        return DecoderState(images: images, imageIndices: newImages,
                            features: sameImages ? features : images.features.gatheringRows(newImages),
                            projectedFeatures: sameImages ? projectedFeatures : images.projectedFeatures.gatheringRows(newImages),
                            lstm: LSTMCell.State(hidden: lstm.hidden.gatheringRows(rows), cell: lstm.cell.gatheringRows(rows)))
    }

    /// The same rows after a step: `lstm` replaces h and c.
    func replacingLSTM(_ lstm: LSTMCell.State) -> DecoderState {
        DecoderState(images: images, imageIndices: imageIndices, features: features,
                     projectedFeatures: projectedFeatures, lstm: lstm)
    }
}

/// One decoding step's result.
public struct DecodeStepOutput: Sendable {
    /// log softmax of the logits, [B, V].
    public var logProbabilities: Tensor
    /// α, [B, P]: where each row looked.
    public var attentionWeights: Tensor
    /// The state after this step.
    public var state: DecoderState
}

extension CaptioningModel {
    /// Runs the encoder in inference mode: images [N, 3, S, S] → features and what
    /// every decoding step reuses.
    public func encode(_ images: Tensor) -> EncodedImages {
        let imageSize = configuration.imageSize
        precondition(images.rank == 4 && images.shape.dropFirst().elementsEqual([3, imageSize, imageSize]),
                     "images must be [N, 3, \(imageSize), \(imageSize)], got \(images.shape)")
        return encode(features: features(of: images))
    }

    /// The encoder's features of images [N, 3, S, S] in inference mode: [N, P, D].
    public func features(of images: Tensor) -> Tensor {
        if let pretrainedEncoder {
            return features(ofCached: cachedInputs(of: images))
        }
        return encoder(images)
    }

    /// What a training cache keeps of images [N, 3, S, S] for a pretrained encoder: its features
    /// [N, P, D] when it is frozen, or the input [N, C, h, h] of its stages that train.
    public func cachedInputs(of images: Tensor) -> Tensor {
        precondition(pretrainedEncoder != nil, "only a pretrained encoder's inputs are cached")
        if let stage = configuration.pretrainedEncoder?.trainableFromStage {
            return pretrainedEncoder!.stageInput(images, stage: stage)
        }
        return pretrainedEncoder!(images, positions: configuration.positionFeatures)
    }

    /// The shape of one image's `cachedInputs`: [P, D], or [C, h, h].
    public var cachedInputShape: [Int] {
        if let pretrained = configuration.pretrainedEncoder, let stage = pretrained.trainableFromStage {
            return pretrained.architecture.stageInputShape(stage, imageSize: configuration.imageSize)
        }
        return [configuration.locationCount, configuration.featureSize]
    }

    /// Features [N, P, D] from `cachedInputs`: themselves, or the trainable stages' output.
    public func features(ofCached inputs: Tensor) -> Tensor {
        guard let encoderTail else { return inputs }
        return encoderTail(inputs, positions: configuration.positionFeatures)
    }

    /// What the decoder needs of features [N, P, D] (`features(of:)`, or a feature cache's).
    public func encode(features: Tensor) -> EncodedImages {
        precondition(features.rank == 3 && features.shape[1] == configuration.locationCount
                        && features.shape[2] == configuration.featureSize,
                     "features must be [N, \(configuration.locationCount), \(configuration.featureSize)], got \(features.shape)")
        let meanFeatures = features.sum(alongAxis: 1).scaled(by: 1 / Float(configuration.locationCount))
        return EncodedImages(features: features, projectedFeatures: decoder.attention.projectFeatures(features),
                             initialHidden: decoder.initialHidden(meanFeatures),
                             initialCell: decoder.initialCell(meanFeatures))
    }

    /// One decoder step in inference mode (no dropout, no caches): `tokens` [B] are the
    /// previous words (`<start>` first), one per row of `state`.
    public func decodeStep(tokens: [Int32], state: DecoderState) -> DecodeStepOutput {
        precondition(tokens.count == state.rowCount, "decodeStep: \(tokens.count) tokens for \(state.rowCount) rows")
        let vocabularySize = configuration.vocabularySize
        let tokens = tokens.map { token -> Int in
            precondition(token >= 0 && Int(token) < vocabularySize, "token \(token) outside the vocabulary")
            return Int(token)
        }
        let stepped = decoder.step(tokens: tokens, features: state.features, projectedFeatures: state.projectedFeatures,
                                   state: state.lstm)
        var logProbabilities = stepped.logits // [B, V], normalised in place below
        let rows = tokens.count
        logProbabilities.withUnsafeMutableBufferPointer { values in
            for row in 0..<rows {
                let start = values.baseAddress! + row * vocabularySize
                var largest = -Float.infinity
                for index in 0..<vocabularySize { largest = max(largest, start[index]) }
                var total: Float = 0
                for index in 0..<vocabularySize { total += exp(start[index] - largest) }
                let shift = largest + log(total)
                for index in 0..<vocabularySize { start[index] -= shift }
            }
        }
        return DecodeStepOutput(logProbabilities: logProbabilities, attentionWeights: stepped.attentionWeights,
                                state: state.replacingLSTM(stepped.state))
    }
}

extension CaptioningModel {
    /// The loss of a batch in inference mode (running statistics, no dropout,
    /// teacher forcing), through `encode` and the decoder's cache-free `step`, scored by the
    /// same `CaptionLoss` as training: no caches, no gradients. For validation; equals
    /// `lossAndGradients(for:mode: .inference)`'s loss up to float rounding.
    public func evaluateLoss(for batch: CaptionBatch) -> LossBreakdown {
        precondition(!batch.captions.isEmpty, "a batch needs at least one caption")
        let layout = PackedLayout(captions: batch.captions)
        let rowCount = batch.captions.count
        let targets = layout.targets(captions: batch.captions) // [Σ B_t]
        let encoded = batch.isEncoded ? encode(features: features(ofCached: batch.images)) : encode(batch.images)
        var state = encoded.initialState(imageIndices: layout.rowImages)
        var logits = Tensor(zeros: [layout.tokenCount, configuration.vocabularySize]) // [Σ B_t, V], packed
        var attentionSums = Tensor(zeros: [rowCount, configuration.locationCount]) // Σ_t α_t, [B, P]
        var tokens = [Int](repeating: Int(Vocabulary.startID), count: rowCount)
        for step in 0..<layout.stepCount {
            let active = layout.batchSizes[step]
            if active < state.rowCount {
                state = state.selectingRows(Array(0..<active))
                tokens.removeLast(tokens.count - active)
            }
            let stepped = decoder.step(tokens: tokens, features: state.features,
                                       projectedFeatures: state.projectedFeatures, state: state.lstm)
            logits.setRows(startingAt: layout.offsets[step], to: stepped.logits)
            attentionSums.addIntoLeadingRows(stepped.attentionWeights)
            for row in 0..<active { tokens[row] = targets[layout.offsets[step] + row] }
            state = state.replacingLSTM(stepped.state)
        }
        let captionLoss = CaptionLoss(attentionRegularization: configuration.attentionRegularization,
                                      tokenNormalizer: layout.tokenCount, captionNormalizer: rowCount)
        let (crossEntropy, penalty) = captionLoss.evaluate(logits: logits, targets: targets, attentionSums: attentionSums)
        var loss = LossBreakdown(total: crossEntropy + configuration.attentionRegularization * penalty,
                                 crossEntropy: crossEntropy, attentionPenalty: penalty,
                                 tokenCount: layout.tokenCount, captionCount: rowCount)
        if let wordDetector {
            let targets = WordDetection.targets(captions: batch.captions, imageCount: encoded.imageCount,
                                                vocabularySize: configuration.vocabularySize)
            let sum = WordDetection.loss(logits: wordDetector(encoded.features), targets: targets, gradientScale: nil).sum
            loss.wordDetection = WordDetection.mean(sum: sum, imageCount: Double(encoded.imageCount),
                                                    vocabularySize: configuration.vocabularySize)
            loss.total += configuration.wordLossWeight * loss.wordDetection
        }
        return loss
    }
}
