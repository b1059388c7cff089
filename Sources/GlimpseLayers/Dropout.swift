import GlimpseTensor

/// Inverted dropout (PyTorch `nn.Dropout`): in training each element is zeroed with
/// probability p and the survivors are scaled by 1/(1 − p), so inference is the
/// identity. The mode and the generator are passed in; a run's masks are a
/// function of the generator's seed.
public struct Dropout: Sendable {
    public let probability: Float

    public init(probability: Float) {
        precondition(probability >= 0 && probability <= 1, "dropout probability must be in [0, 1], got \(probability)")
        self.probability = probability
    }

    public struct Cache: Sendable {
        /// 0 or 1/(1 − p) per element, same shape as the input; nil when nothing
        /// was dropped (inference, or p = 0) and the gradient passes unchanged.
        public var mask: Tensor?
    }

    /// Inference: the identity.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        input
    }

    public func forward(_ input: Tensor, mode: Mode, using generator: inout SeededGenerator) -> (output: Tensor, cache: Cache) {
        guard mode == .training, probability > 0 else { return (input, Cache(mask: nil)) }
        // p = 1 drops everything; PyTorch returns zeros rather than 0·∞.
        let keptScale: Float = probability < 1 ? 1 / (1 - probability) : 0
        let probability = probability
        let mask = Tensor(shape: input.shape) { mask in
            for index in 0..<mask.count {
                mask[index] = generator.nextUnitFloat() < probability ? 0 : keptScale
            }
        }
        return (input * mask, Cache(mask: mask))
    }

    public func backward(_ outputGradient: Tensor, cache: Cache) -> Tensor {
        guard let mask = cache.mask else { return outputGradient }
        precondition(outputGradient.shape == mask.shape, "Dropout backward: gradient \(outputGradient.shape), mask \(mask.shape)")
        return outputGradient * mask
    }
}
