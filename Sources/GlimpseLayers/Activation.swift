import GlimpseTensor

/// max(0, x), elementwise, any shape.
public struct ReLU: Sendable {
    public init() {}

    public struct Cache: Sendable {
        /// The output, same shape as the input: its positive entries mark where
        /// the gradient passes.
        public var output: Tensor

        /// For layers that write max(0, x) themselves (`BatchNorm2d.forwardThenReLU`).
        public init(output: Tensor) { self.output = output }
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        input.map { max($0, 0) }
    }

    public func forward(_ input: Tensor) -> (output: Tensor, cache: Cache) {
        let output = self(input)
        return (output, Cache(output: output))
    }

    /// dx = dy where the output is positive, else 0 (at x = 0 the gradient is 0, as in PyTorch).
    public func backward(_ outputGradient: Tensor, cache: Cache) -> Tensor {
        precondition(outputGradient.shape == cache.output.shape,
                     "ReLU backward: gradient \(outputGradient.shape), output \(cache.output.shape)")
        return outputGradient.zipMap(cache.output) { gradient, output in output > 0 ? gradient : 0 }
    }
}
