import GlimpseText
import GlimpseLayers
import GlimpseTensor

/// The captioning loss of a batch (Xu et al. 2015, eq. 14), with its gradients for backward:
///
///     L = crossEntropy + λ · attentionPenalty
///     crossEntropy     = Σ_tokens −log p(target) / tokens            (or Σ_c w_c Σ_t −log p(y_ct) / captions)
///     attentionPenalty = Σ_captions Σ_p (1 − Σ_t α_tp)² / captions
///
/// The word-detection term (`WordDetection`) is added by the model when it has the head.
public struct CaptionLoss: Sendable {
    /// λ
    public var attentionRegularization: Float
    /// What the means divide by: a batch's own counts, or a whole batch's when its
    /// micro-batches' losses and gradients are to add up.
    public var tokenNormalizer: Int
    public var captionNormalizer: Int

    public init(attentionRegularization: Float, tokenNormalizer: Int, captionNormalizer: Int) {
        self.attentionRegularization = attentionRegularization
        self.tokenNormalizer = tokenNormalizer
        self.captionNormalizer = captionNormalizer
    }

    /// The loss alone, for evaluation: the cross-entropy (the mean over tokens) of packed
    /// logits [Σ B_t, V] against `targets` [Σ B_t], and the attention penalty of Σ_t α_t [B, P]
    /// before λ. The same values `crossEntropy(…, rowWeights: nil)` and `attentionPenalty`
    /// return, without computing gradients.
    public func evaluate(logits: Tensor, targets: [Int], attentionSums: Tensor) -> (crossEntropy: Float, attentionPenalty: Float) {
        let mean = SoftmaxCrossEntropy()(logits: logits, targets: targets).loss
        var penaltyTotal = 0.0
        attentionSums.withUnsafeBufferPointer { sums in
            for sum in sums { penaltyTotal += Double(1 - sum) * Double(1 - sum) }
        }
        return (rescaledToTokenNormalizer(mean, tokenCount: targets.count), Float(penaltyTotal / Double(captionNormalizer)))
    }

    /// A mean over `tokenCount` tokens as a mean over `tokenNormalizer`.
    private func rescaledToTokenNormalizer(_ mean: Float, tokenCount: Int) -> Float {
        Float(Double(mean) * Double(tokenCount) / Double(tokenNormalizer))
    }

    /// The cross-entropy of packed logits [Σ B_t, V] against `targets` [Σ B_t], and dL/dlogits.
    /// `rowWeights` [Σ B_t], each packed row's caption weight w_c, makes it the weighted sum
    /// over captions (self-critical training's policy gradient); nil, the mean over tokens.
    public func crossEntropy(logits: Tensor, targets: [Int], rowWeights: [Float]?) -> (loss: Float, logitsGradient: Tensor) {
        let (tokenCount, vocabularySize) = (targets.count, logits.shape[1])
        let mean = SoftmaxCrossEntropy().lossAndGradient(logits: logits, targets: targets)
        var logitsGradient = mean.logitsGradient
        guard let rowWeights else {
            // The layer's mean is over these tokens; rescale to the normaliser's.
            let rescale = Float(tokenCount) / Float(tokenNormalizer)
            if rescale != 1 { logitsGradient.scale(by: rescale) }
            return (rescaledToTokenNormalizer(mean.loss, tokenCount: tokenCount), logitsGradient)
        }
        let negativeLogLikelihoods = SoftmaxCrossEntropy.negativeLogLikelihoods(logits: logits, targets: targets)
        var weighted = 0.0
        for (row, weight) in rowWeights.enumerated() { weighted += Double(weight) * Double(negativeLogLikelihoods[row]) }
        // Row gradients are (softmax − onehot) / tokens: rescale each to w_c / captions.
        let scale = Float(tokenCount) / Float(captionNormalizer)
        logitsGradient.withUnsafeMutableBufferPointer { gradient in
            for (row, weight) in rowWeights.enumerated() {
                let start = gradient.baseAddress! + row * vocabularySize
                for index in 0..<vocabularySize { start[index] *= weight * scale }
            }
        }
        return (Float(weighted / Double(captionNormalizer)), logitsGradient)
    }

    /// The doubly stochastic attention penalty of Σ_t α_t [B, P] (each caption's attention
    /// summed over its steps), before λ, and dL/dα_tp = −2λ(1 − Σ_t α_tp) / captions [B, P],
    /// the same for every step t.
    public func attentionPenalty(attentionSums: Tensor) -> (penalty: Float, weightsGradient: Tensor) {
        let lambda = attentionRegularization, captionNormalizer = captionNormalizer
        var penaltyTotal = 0.0
        let weightsGradient = Tensor(shape: attentionSums.shape) { target in
            attentionSums.withUnsafeBufferPointer { sums in
                let scale = -2 * lambda / Float(captionNormalizer)
                for index in 0..<sums.count {
                    let deficit = 1 - sums[index]
                    penaltyTotal += Double(deficit) * Double(deficit)
                    target[index] = scale * deficit
                }
            }
        }
        return (Float(penaltyTotal / Double(captionNormalizer)), weightsGradient)
    }
}

extension PackedLayout {
    /// Each packed row's target: caption word t at step t, `<end>` after the last, [Σ B_t].
    func targets(captions: [CaptionBatch.Caption]) -> [Int] {
        var targets = [Int](repeating: 0, count: tokenCount)
        for step in 0..<stepCount {
            for row in 0..<batchSizes[step] {
                let words = captions[order[row]].tokens
                targets[offsets[step] + row] = step < words.count ? Int(words[step]) : Int(Vocabulary.endID)
            }
        }
        return targets
    }

    /// A per-caption value (in batch order) at each of the caption's packed rows, [Σ B_t].
    func packedRows(_ perCaption: [Float]) -> [Float] {
        var values = [Float](repeating: 0, count: tokenCount)
        for step in 0..<stepCount {
            for row in 0..<batchSizes[step] { values[offsets[step] + row] = perCaption[order[row]] }
        }
        return values
    }
}
