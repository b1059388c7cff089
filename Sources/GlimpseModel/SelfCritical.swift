import Foundation
import GlimpseText
import GlimpseLayers
import GlimpseTensor

extension CaptioningModel {
    /// `count` captions per image drawn from the model's own distribution (inference mode:
    /// running statistics, no dropout), word by word from `<start>` until `<end>` or
    /// `maximumLength` words. `<pad>`, `<start>` and `<unk>` are never drawn (their
    /// probability goes to the other words). Row r = image · count + k; the captions are word
    /// ids without `<start>` and `<end>`.
    public func sampleCaptions(_ encoded: EncodedImages, perImage count: Int, maximumLength: Int,
                               using generator: inout SeededGenerator) -> [[Int32]] {
        precondition(count >= 1 && maximumLength >= 1, "sampling needs at least one caption of at least one word")
        let rowImages = (0..<encoded.imageCount).flatMap { Array(repeating: $0, count: count) }
        var captions = [[Int32]](repeating: [], count: rowImages.count)
        var state = encoded.initialState(imageIndices: rowImages)
        var active = Array(rowImages.indices) // state row → caption index
        var tokens = [Int32](repeating: Vocabulary.startID, count: rowImages.count)
        let vocabularySize = configuration.vocabularySize
        for _ in 0..<maximumLength where !active.isEmpty {
            let output = decodeStep(tokens: tokens, state: state)
            var keep: [Int] = []
            output.logProbabilities.withUnsafeBufferPointer { logProbabilities in
                for (row, caption) in active.enumerated() {
                    let values = logProbabilities.baseAddress! + row * vocabularySize
                    var total: Double = 0
                    for index in 0..<vocabularySize where Self.drawable(index) { total += Double(exp(values[index])) }
                    var threshold = generator.nextUnitDouble() * total
                    var choice = Int(Vocabulary.endID)
                    for index in 0..<vocabularySize where Self.drawable(index) {
                        threshold -= Double(exp(values[index]))
                        choice = index
                        if threshold < 0 { break }
                    }
                    if choice == Int(Vocabulary.endID) { continue }
                    captions[caption].append(Int32(choice))
                    tokens[keep.count] = Int32(choice)
                    keep.append(row)
                }
            }
            if keep.count < active.count {
                active = keep.map { active[$0] }
                tokens.removeLast(tokens.count - keep.count)
                state = keep.isEmpty ? state : output.state.selectingRows(keep)
            } else {
                state = output.state
            }
        }
        return captions
    }

    /// Whether sampling may draw token `index`: every word and `<end>`.
    static func drawable(_ index: Int) -> Bool {
        index != Int(Vocabulary.padID) && index != Int(Vocabulary.startID) && index != Int(Vocabulary.unknownID)
    }
}

/// Self-critical sequence training (Rennie et al. 2017) with the mean of the other samples
/// as baseline (Luo 2020, "a better variant of SCST"): per image, K captions are sampled and
/// scored by a reward r_k (CIDEr-D against the image's references); caption k's advantage is
/// a_k = r_k − mean_{j≠k} r_j, and the loss −Σ_k a_k log p(c_k) / (N K) raises the
/// probability of captions better than their siblings. The encoder is frozen (inference mode,
/// no gradient) and dropout is off, so that the captions are scored under the policy that drew them.
public enum SelfCritical {
    /// a_k = r_k − mean of the other K − 1 rewards of the same image, for rewards in groups of K
    /// (all zero when K = 1: there is no baseline).
    public static func advantages(rewards: [Double], perImage count: Int) -> [Double] {
        precondition(count >= 1 && rewards.count % count == 0, "\(rewards.count) rewards in groups of \(count)")
        guard count > 1 else { return [Double](repeating: 0, count: rewards.count) }
        var result = [Double](repeating: 0, count: rewards.count)
        for start in stride(from: 0, to: rewards.count, by: count) {
            let group = rewards[start..<(start + count)]
            let sum = group.reduce(0, +)
            for index in group.indices {
                result[index] = rewards[index] - (sum - rewards[index]) / Double(count - 1)
            }
        }
        return result
    }
}

/// What one self-critical step did.
public struct SelfCriticalStepResult: Sendable {
    /// The policy-gradient loss −Σ a_k log p(c_k) / captions.
    public var loss: Float
    /// The mean reward of the sampled captions.
    public var meanReward: Double
    /// The global gradient norm before clipping.
    public var gradientNorm: Float
}

extension Trainer {
    /// One self-critical step on `images` [N, 3, S, S] (or, from a feature cache, their
    /// features [N, P, D]): sample `perImage` captions per image,
    /// score them with `reward(image, caption)`, and step the decoder along the policy gradient.
    ///
    /// With `crossEntropyWeight` γ > 0 the loss adds γ times the mean cross-entropy of
    /// `references` (teacher-forced reference captions of the same images), which keeps the
    /// captions in the references' grammar while the reward is chased: without it, CIDEr-D
    /// can be raised by splicing the endings of different references together.
    public mutating func selfCriticalStep(images: Tensor, perImage count: Int, maximumLength: Int,
                                          reward: (_ image: Int, _ caption: [Int32]) -> Double,
                                          references: [CaptionBatch.Caption] = [], crossEntropyWeight: Float = 0,
                                          using generator: inout SeededGenerator) -> SelfCriticalStepResult {
        let encoded = images.rank == 3 ? model.encode(features: images) : model.encode(images)
        let samples = model.sampleCaptions(encoded, perImage: count, maximumLength: maximumLength, using: &generator)
        let rewards = samples.indices.map { reward($0 / count, samples[$0]) }
        let advantages = SelfCritical.advantages(rewards: rewards, perImage: count)
        var captions = samples.indices.map { CaptionBatch.Caption(imageIndex: $0 / count, tokens: samples[$0]) }
        var weights = advantages.map { Float($0) }
        // Everything is divided by the number of samples; a reference row's weight γ·S/tokens
        // turns its summed log-likelihood into γ times the references' mean over tokens.
        let sampleCount = samples.count
        if crossEntropyWeight > 0 && !references.isEmpty {
            let referenceTokens = references.reduce(0) { $0 + $1.stepCount }
            captions += references
            weights += Array(repeating: crossEntropyWeight * Float(sampleCount) / Float(referenceTokens), count: references.count)
        }
        let batch = images.rank == 3 ? CaptionBatch(features: images, captions: captions) : CaptionBatch(images: images, captions: captions)
        var result = model.lossAndGradients(for: batch, mode: .inference,
                                            normalization: LossNormalization(tokenCount: batch.tokenCount, captionCount: sampleCount),
                                            computingImagesGradient: false, captionWeights: weights, trainingEncoder: false,
                                            using: &generator)
        let norm = clip(&result.gradients)
        optimizer.update(&model, along: result.gradients)
        return SelfCriticalStepResult(loss: result.loss.total, meanReward: rewards.reduce(0, +) / Double(max(rewards.count, 1)),
                                      gradientNorm: norm)
    }
}
