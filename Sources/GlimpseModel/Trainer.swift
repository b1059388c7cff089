import Foundation
import GlimpseLayers
import GlimpseTensor

/// When to feed the model its own previous prediction instead of the true word
/// (scheduled sampling, Bengio et al. 2015). The value is p, the probability of
/// sampling, as a function of the training step i (0 for the first step). Bengio's
/// ε_i, the probability of the true word, is 1 − p.
public enum ScheduledSampling: Sendable, Equatable {
    /// Always teacher forcing.
    case off
    /// p, every step.
    case constant(Float)
    /// p rises linearly from `start` to `end` over `steps` training steps, then stays at `end`.
    case linear(start: Float, end: Float, steps: Int)
    /// Bengio's inverse sigmoid decay of ε: p = maximum · (1 − k / (k + exp(i / k))), k ≥ 1.
    case inverseSigmoid(k: Double, maximum: Float)

    /// p at training step `step`.
    public func probability(atStep step: Int) -> Float {
        switch self {
        case .off:
            return 0
        case .constant(let probability):
            return probability
        case .linear(let start, let end, let steps):
            guard steps > 0, step < steps else { return end }
            return start + (end - start) * Float(step) / Float(steps)
        case .inverseSigmoid(let k, let maximum):
            precondition(k >= 1, "inverse sigmoid scheduled sampling needs k ≥ 1")
            let truth = k / (k + exp(Double(step) / k))
            return maximum * Float(1 - truth)
        }
    }
}

/// What one training step did.
public struct TrainingStepResult: Sendable, Equatable {
    /// The batch's loss before the update (crossEntropy + λ · attentionPenalty + β · wordDetection).
    public var loss: Float
    public var crossEntropy: Float
    /// Before the weight λ.
    public var attentionPenalty: Float
    /// Before the weight β; 0 for a model without the word-detection head.
    public var wordDetection: Float = 0
    /// The global gradient norm before clipping.
    public var gradientNorm: Float
    /// The scheduled-sampling probability used.
    public var samplingProbability: Float
}

/// One training step: forward and backward in training mode (batch statistics,
/// dropout), global gradient-norm clipping, then Adam (PyTorch's rule).
public struct Trainer: Sendable {
    public var model: CaptioningModel
    /// Adam; its `stepCount` is the training step count the sampling schedule uses.
    public var optimizer: Adam
    /// Clip the global gradient norm to this; nil disables clipping.
    public var maxGradientNorm: Float?
    public var scheduledSampling: ScheduledSampling

    public init(model: CaptioningModel, optimizer: Adam, maxGradientNorm: Float? = 5,
                scheduledSampling: ScheduledSampling = .off) {
        self.model = model
        self.optimizer = optimizer
        self.maxGradientNorm = maxGradientNorm
        self.scheduledSampling = scheduledSampling
    }

    /// Steps taken so far.
    public var stepCount: Int { optimizer.stepCount }

    /// Clips `gradients` to `maxGradientNorm` (when set) and returns their norm before clipping.
    func clip(_ gradients: inout CaptioningModel.Gradients) -> Float {
        if let maxGradientNorm { return clipGradientNorm(&gradients, of: model, maxNorm: maxGradientNorm) }
        return Float(model.parameterPaths.reduce(0.0) { $0 + gradients[keyPath: $1.gradient].squaredNorm() }.squareRoot())
    }

    /// Trains on `batch` once. `generator` drives dropout and scheduled sampling.
    public mutating func step(_ batch: CaptionBatch, using generator: inout SeededGenerator) -> TrainingStepResult {
        let probability = scheduledSampling.probability(atStep: optimizer.stepCount)
        var result = model.lossAndGradients(for: batch, mode: .training, samplingProbability: probability,
                                            computingImagesGradient: false, using: &generator)
        let norm = clip(&result.gradients)
        optimizer.update(&model, along: result.gradients)
        return TrainingStepResult(loss: result.loss.total, crossEntropy: result.loss.crossEntropy,
                                  attentionPenalty: result.loss.attentionPenalty,
                                  wordDetection: result.loss.wordDetection, gradientNorm: norm,
                                  samplingProbability: probability)
    }
}

// MARK: - Data-parallel steps

extension Trainer {
    /// What a data-parallel step needs from the other ranks: a sum of equal-length buffers, the
    /// same on every rank (MPI's allreduce). `extra` values ride along at the buffer's end.
    public typealias Exchange<E: Error> = (_ buffer: inout [Float]) throws(E) -> Void

    /// One step of data-parallel training: this rank's share of a global batch, forward and backward
    /// with the loss normalised by the whole batch's counts, so that the ranks' gradients simply add
    /// up to the whole batch's; then one exchange of one fused buffer (every gradient, the BatchNorm
    /// running statistics when `averagingBuffers`, the loss's parts and `extra`), then clipping and
    /// Adam on the summed gradients, identical on every rank.
    ///
    /// - Parameters:
    ///   - share: this rank's images and captions (at least one caption).
    ///   - normalization: the whole batch's token and caption counts.
    ///   - ranks: how many ranks add their shares (the running statistics' divisor).
    ///   - averagingBuffers: average the BatchNorm running statistics over the ranks, so that every
    ///     rank keeps the same model when each normalises with its own batch statistics (off when
    ///     the statistics are synchronised, and so already equal).
    ///   - extra: values summed with the gradients (stop votes, say); returned summed.
    ///   - generator: this rank's own stream (dropout, sampling).
    public mutating func dataParallelStep<E: Error>(
        share: CaptionBatch, normalization: LossNormalization, ranks: Int, averagingBuffers: Bool, extra: [Float],
        using generator: inout SeededGenerator, exchange: Exchange<E>
    ) throws(E) -> (result: TrainingStepResult, extra: [Float]) {
        let probability = scheduledSampling.probability(atStep: optimizer.stepCount)
        var result = model.lossAndGradients(for: share, mode: .training, samplingProbability: probability,
                                            normalization: normalization, computingImagesGradient: false, using: &generator)
        let parameters = model.parameterPaths
        let buffers = averagingBuffers ? model.bufferPaths.map(\.buffer) : []
        let loss = result.loss
        var fused = [Float]()
        fused.reserveCapacity(parameters.reduce(0) { $0 + model[keyPath: $1.parameter].scalarCount } + 8 + extra.count)
        for path in parameters { fused += result.gradients[keyPath: path.gradient].scalars }
        for path in buffers { fused += model[keyPath: path].scalars }
        fused += [loss.total, loss.crossEntropy, loss.attentionPenalty, loss.wordDetection] + extra
        try exchange(&fused)
        var offset = 0
        func take(_ count: Int) -> ArraySlice<Float> {
            defer { offset += count }
            return fused[offset..<offset + count]
        }
        for path in parameters {
            let shape = result.gradients[keyPath: path.gradient].shape
            result.gradients[keyPath: path.gradient] = Tensor(shape: shape, scalars: Array(take(shape.reduce(1, *))))
        }
        let divisor = Float(ranks)
        for path in buffers {
            let shape = model[keyPath: path].shape
            model[keyPath: path] = Tensor(shape: shape, scalars: take(shape.reduce(1, *)).map { $0 / divisor })
        }
        let parts = Array(take(4)), summedExtra = Array(take(extra.count))
        let norm = clip(&result.gradients)
        optimizer.update(&model, along: result.gradients)
        return (TrainingStepResult(loss: parts[0], crossEntropy: parts[1], attentionPenalty: parts[2], wordDetection: parts[3],
                                   gradientNorm: norm, samplingProbability: probability), summedExtra)
    }
}
