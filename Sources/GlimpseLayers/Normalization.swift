import GlimpseTensor

/// Batch normalisation over the channels of NCHW images, with PyTorch's
/// `nn.BatchNorm2d` semantics (affine, track_running_stats).
///
/// Training normalises with the batch's mean and biased variance over (B, H, W) and
/// moves the running statistics towards the batch's, with the *unbiased* variance:
/// running = (1 − momentum)·running + momentum·batch. Inference normalises with
/// the running statistics.
/// Initialisation as PyTorch: weight 1, bias 0, running mean 0, running variance 1.
///
/// PyTorch's `num_batches_tracked` buffer is not kept: with a fixed momentum it
/// changes nothing the layer computes.
public struct BatchNorm2d: Parameterized, Sendable {
    /// γ, [C]
    public var weight: Tensor
    /// β, [C]
    public var bias: Tensor
    /// [C]
    public var runningMean: Tensor
    /// [C], unbiased.
    public var runningVariance: Tensor
    public let momentum: Float
    public let epsilon: Float

    public var channels: Int { weight.shape[0] }

    public struct Gradients: Sendable {
        /// [C]
        public var weight: Tensor
        /// [C]
        public var bias: Tensor
    }

    public struct Cache: Sendable {
        /// x, [B, C, H, W] (shares storage with the caller's input: no copy). Backward
        /// recomputes x̂ from it rather than the forward pass writing a second
        /// activation-sized buffer.
        public var input: Tensor
        /// The mean used for normalising, [C]
        public var mean: [Float]
        /// 1 / sqrt(var + eps) of the variance used, [C]
        public var inverseStandardDeviation: [Float]
        /// Whether the batch's statistics were used (training): then the mean and
        /// variance depend on the input and backward must differentiate through them.
        public var usedBatchStatistics: Bool
    }

    public init(channels: Int, momentum: Float = 0.1, epsilon: Float = 1e-5) {
        weight = Tensor(shape: [channels], repeating: 1)
        bias = Tensor(zeros: [channels])
        runningMean = Tensor(zeros: [channels])
        runningVariance = Tensor(shape: [channels], repeating: 1)
        self.momentum = momentum
        self.epsilon = epsilon
    }

    public var parameterPaths: [ParameterPath<BatchNorm2d>] {
        [ParameterPath(name: "weight", parameter: \.weight, gradient: \.weight),
         ParameterPath(name: "bias", parameter: \.bias, gradient: \.bias)]
    }

    public var bufferPaths: [(name: String, buffer: WritableKeyPath<BatchNorm2d, Tensor>)] {
        [("running_mean", \.runningMean), ("running_var", \.runningVariance)]
    }

    public func zeroGradients() -> Gradients {
        Gradients(weight: Tensor(zeros: [channels]), bias: Tensor(zeros: [channels]))
    }

    private func checkShape(_ input: Tensor) -> (batch: Int, planeSize: Int) {
        precondition(input.rank == 4 && input.shape[1] == channels,
                     "BatchNorm2d(\(channels)) needs [B, \(channels), H, W], got \(input.shape)")
        return (input.shape[0], input.shape[2] * input.shape[3])
    }

    /// Inference with the running statistics: no cache, no state change.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        normalize(input, mean: runningMean.scalars, inverseStandardDeviation: inverseStandardDeviation(runningVariance.scalars))
    }

    /// Training (`.training`: batch statistics, running statistics updated) or
    /// inference (`.inference`: running statistics, nothing updated) with a cache
    /// for backward.
    public mutating func forward(_ input: Tensor, mode: Mode) -> (output: Tensor, cache: Cache) {
        let (batch, planeSize) = checkShape(input)
        switch mode {
        case .inference:
            let (mean, invstd) = (runningMean.scalars, inverseStandardDeviation(runningVariance.scalars))
            let output = normalize(input, mean: mean, inverseStandardDeviation: invstd)
            return (output, Cache(input: input, mean: mean, inverseStandardDeviation: invstd, usedBatchStatistics: false))
        case .training:
            let count = batch * planeSize
            let channels = channels
            precondition(count > 1, "BatchNorm2d training needs more than one value per channel, got input \(input.shape)")
            var mean = [Float](repeating: 0, count: channels)
            var variance = [Float](repeating: 0, count: channels)
            input.withUnsafeBufferPointer { x in
                for channel in 0..<channels {
                    // Two passes: E[x²] − E[x]² cancels badly when the mean is large.
                    var total = 0.0
                    for image in 0..<batch {
                        total += FastMath.sum(x.baseAddress! + (image * channels + channel) * planeSize, count: planeSize)
                    }
                    let channelMean = Float(total / Double(count))
                    var squares = 0.0
                    for image in 0..<batch {
                        squares += FastMath.sumOfSquaredDeviations(x.baseAddress! + (image * channels + channel) * planeSize,
                                                                   count: planeSize, from: channelMean)
                    }
                    mean[channel] = channelMean
                    variance[channel] = Float(squares / Double(count))
                }
            }
            let momentum = momentum
            let unbiasing = Float(count) / Float(count - 1)
            runningMean.withUnsafeMutableBufferPointer { running in
                for channel in 0..<channels { running[channel] = (1 - momentum) * running[channel] + momentum * mean[channel] }
            }
            runningVariance.withUnsafeMutableBufferPointer { running in
                for channel in 0..<channels {
                    running[channel] = (1 - momentum) * running[channel] + momentum * variance[channel] * unbiasing
                }
            }
            let invstd = inverseStandardDeviation(variance)
            let output = normalize(input, mean: mean, inverseStandardDeviation: invstd)
            return (output, Cache(input: input, mean: mean, inverseStandardDeviation: invstd, usedBatchStatistics: true))
        }
    }

    private func inverseStandardDeviation(_ variance: [Float]) -> [Float] {
        variance.map { 1 / ($0 + epsilon).squareRoot() } // [C]: small
    }

    /// y = γ·(x − mean)·invstd + β = x·scale + shift per channel, in one pass.
    private func normalize(_ input: Tensor, mean: [Float], inverseStandardDeviation invstd: [Float]) -> Tensor {
        let (batch, planeSize) = checkShape(input)
        let channels = channels
        var output = Tensor(zeros: input.shape)
        input.withUnsafeBufferPointer { x in
            weight.withUnsafeBufferPointer { gamma in
                bias.withUnsafeBufferPointer { beta in
                    output.withUnsafeMutableBufferPointer { y in
                        for image in 0..<batch {
                            for channel in 0..<channels {
                                let offset = (image * channels + channel) * planeSize
                                let scale = gamma[channel] * invstd[channel]
                                let shift = beta[channel] - mean[channel] * scale
                                let source = x.baseAddress! + offset, target = y.baseAddress! + offset
                                for index in 0..<planeSize { target[index] = source[index] * scale + shift }
                            }
                        }
                    }
                }
            }
        }
        return output
    }

    /// Accumulates dγ += Σ dy·x̂ and dβ += Σ dy (sums over B, H, W) and returns dx:
    /// with batch statistics, dx = γ·invstd/n · (n·dy − Σdy − x̂·Σ(dy·x̂));
    /// with running statistics, dx = γ·invstd·dy.
    public func backward(_ outputGradient: Tensor, cache: Cache, into gradients: inout Gradients) -> Tensor {
        let (batch, planeSize) = checkShape(outputGradient)
        precondition(outputGradient.shape == cache.input.shape,
                     "BatchNorm2d backward: gradient \(outputGradient.shape), forward input \(cache.input.shape)")
        let channels = channels
        let count = Double(batch * planeSize)
        var inputGradient = Tensor(zeros: outputGradient.shape)
        outputGradient.withUnsafeBufferPointer { dy in
            cache.input.withUnsafeBufferPointer { x in
                weight.withUnsafeBufferPointer { gamma in
                    gradients.weight.withUnsafeMutableBufferPointer { dGamma in
                        gradients.bias.withUnsafeMutableBufferPointer { dBeta in
                            inputGradient.withUnsafeMutableBufferPointer { dx in
                                for channel in 0..<channels {
                                    let mean = cache.mean[channel], invstd = cache.inverseStandardDeviation[channel]
                                    // Σ dy and Σ dy·x̂ = invstd·Σ dy·(x − mean).
                                    var sumGradient = 0.0, sumGradientTimesCentered = 0.0
                                    for image in 0..<batch {
                                        let offset = (image * channels + channel) * planeSize
                                        sumGradient += FastMath.sum(dy.baseAddress! + offset, count: planeSize)
                                        sumGradientTimesCentered += FastMath.dot(dy.baseAddress! + offset, x.baseAddress! + offset,
                                                                                 count: planeSize, centeringSecondOn: mean)
                                    }
                                    let sumGradientTimesNormalized = sumGradientTimesCentered * Double(invstd)
                                    dGamma[channel] += Float(sumGradientTimesNormalized)
                                    dBeta[channel] += Float(sumGradient)
                                    let scale = gamma[channel] * invstd
                                    if cache.usedBatchStatistics {
                                        // dx = scale·(dy − mean(dy) − x̂·mean(dy·x̂)), with x̂ = (x − mean)·invstd
                                        // folded into one multiply-add per element.
                                        let meanGradient = Float(sumGradient / count)
                                        let slope = Float(sumGradientTimesNormalized / count) * invstd
                                        for image in 0..<batch {
                                            let offset = (image * channels + channel) * planeSize
                                            let dyPlane = dy.baseAddress! + offset, xPlane = x.baseAddress! + offset
                                            let dxPlane = dx.baseAddress! + offset
                                            for index in 0..<planeSize {
                                                dxPlane[index] = scale * (dyPlane[index] - meanGradient - (xPlane[index] - mean) * slope)
                                            }
                                        }
                                    } else {
                                        for image in 0..<batch {
                                            let offset = (image * channels + channel) * planeSize
                                            let dyPlane = dy.baseAddress! + offset, dxPlane = dx.baseAddress! + offset
                                            for index in 0..<planeSize { dxPlane[index] = scale * dyPlane[index] }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return inputGradient
    }
}
