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
    /// Set in a data-parallel run with synchronised statistics (PyTorch's SyncBatchNorm): training
    /// normalises with the mean and variance of the whole batch, summed over the ranks, and backward
    /// differentiates through them; nil: the batch at hand alone (one process, or each rank its own).
    public var statisticsExchange: StatisticsExchange? = nil

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
        /// Set when the statistics were the whole batch's over the ranks: backward sums its
        /// statistics through the same exchange, and divides by `statisticsCount`.
        public var exchange: StatisticsExchange? = nil
        /// Values per channel the statistics were taken over (B·H·W, or its sum over the ranks).
        public var statisticsCount: Double = 0
    }

    /// A layer with the given parameters and running statistics (a checkpoint's), all [C].
    public init(weight: Tensor, bias: Tensor, runningMean: Tensor, runningVariance: Tensor,
                momentum: Float = 0.1, epsilon: Float = 1e-5) {
        let channels = weight.shape
        precondition(weight.rank == 1 && bias.shape == channels && runningMean.shape == channels
                     && runningVariance.shape == channels,
                     "BatchNorm2d tensors must all be [C]: weight \(weight.shape), bias \(bias.shape), "
                        + "running mean \(runningMean.shape), running variance \(runningVariance.shape)")
        self.weight = weight
        self.bias = bias
        self.runningMean = runningMean
        self.runningVariance = runningVariance
        self.momentum = momentum
        self.epsilon = epsilon
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
        checkShape(input.shape)
    }

    private func checkShape(_ shape: [Int]) -> (batch: Int, planeSize: Int) {
        precondition(shape.count == 4 && shape[1] == channels,
                     "BatchNorm2d(\(channels)) needs [B, \(channels), H, W], got \(shape)")
        return (shape[0], shape[2] * shape[3])
    }

    /// Inference with the running statistics: no cache, no state change.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        normalize(input, mean: runningMean.scalars, inverseStandardDeviation: inverseStandardDeviation(runningVariance.scalars),
                  applyingReLU: false)
    }

    /// ReLU(BatchNorm(x)) at inference in one pass over memory: equal to `ReLU()(self(x))`.
    public func normalizedThenReLU(_ input: Tensor) -> Tensor {
        normalize(input, mean: runningMean.scalars, inverseStandardDeviation: inverseStandardDeviation(runningVariance.scalars),
                  applyingReLU: true)
    }

    /// Training (`.training`: batch statistics, running statistics updated) or
    /// inference (`.inference`: running statistics, nothing updated) with a cache
    /// for backward.
    public mutating func forward(_ input: Tensor, mode: Mode) -> (output: Tensor, cache: Cache) {
        forward(input, mode: mode, applyingReLU: false)
    }

    /// `forward` followed by ReLU, written in the same pass: the output is
    /// max(0, BatchNorm(x)), and it is also what `ReLU.Cache` keeps (pass it to
    /// `backwardThroughReLU`). Saves a full read and write of the activation.
    public mutating func forwardThenReLU(_ input: Tensor, mode: Mode) -> (output: Tensor, cache: Cache) {
        forward(input, mode: mode, applyingReLU: true)
    }

    private mutating func forward(_ input: Tensor, mode: Mode, applyingReLU: Bool) -> (output: Tensor, cache: Cache) {
        let (batch, planeSize) = checkShape(input)
        switch mode {
        case .inference:
            let (mean, invstd) = (runningMean.scalars, inverseStandardDeviation(runningVariance.scalars))
            let output = normalize(input, mean: mean, inverseStandardDeviation: invstd, applyingReLU: applyingReLU)
            return (output, Cache(input: input, mean: mean, inverseStandardDeviation: invstd, usedBatchStatistics: false))
        case .training:
            let count = batch * planeSize
            let channels = channels
            precondition(count > 1, "BatchNorm2d training needs more than one value per channel, got input \(input.shape)")
            // Per channel: Σx, and Σ(x − mean)² about the channel's mean.
            var sums = [Double](repeating: 0, count: channels)
            var squaredDeviations = [Double](repeating: 0, count: channels)
            input.withUnsafeBufferPointer { x in
                sums.withUnsafeMutableBufferPointer { sums in
                    squaredDeviations.withUnsafeMutableBufferPointer { squaredDeviations in
                        // One channel per task. Each plane's mean and squared deviations are taken
                        // while the plane is in cache, then combined exactly (Chan et al.):
                        // M2 = Σ M2_i + Σ n·(mean_i − mean)². Deviations from a nearby mean keep
                        // the precision of the two-pass method (E[x²] − E[x]² would cancel).
                        Parallel.forEach(channels) { channel in
                            var planeSums = [Double](repeating: 0, count: batch)
                            var deviations = 0.0
                            for image in 0..<batch {
                                let plane = x.baseAddress! + (image * channels + channel) * planeSize
                                let sum = FastMath.sum(plane, count: planeSize)
                                planeSums[image] = sum
                                deviations += FastMath.sumOfSquaredDeviations(plane, count: planeSize,
                                                                              from: Float(sum / Double(planeSize)))
                            }
                            let channelMean = planeSums.reduce(0, +) / Double(count)
                            for image in 0..<batch {
                                // The plane's deviations were taken from its float32-rounded mean.
                                let planeMean = Double(Float(planeSums[image] / Double(planeSize)))
                                deviations += Double(planeSize) * (planeMean - channelMean) * (planeMean - channelMean)
                            }
                            sums[channel] = planeSums.reduce(0, +)
                            squaredDeviations[channel] = deviations
                        }
                    }
                }
            }
            var statisticsCount = Double(count)
            if let statisticsExchange {
                statisticsCount = statisticsExchange.wholeBatch(sums: &sums, squaredDeviations: &squaredDeviations, count: count)
            }
            let mean = sums.map { Float($0 / statisticsCount) }
            let variance = squaredDeviations.map { Float($0 / statisticsCount) }
            let momentum = momentum
            let unbiasing = Float(statisticsCount) / Float(statisticsCount - 1)
            runningMean.withUnsafeMutableBufferPointer { running in
                for channel in 0..<channels { running[channel] = (1 - momentum) * running[channel] + momentum * mean[channel] }
            }
            runningVariance.withUnsafeMutableBufferPointer { running in
                for channel in 0..<channels {
                    running[channel] = (1 - momentum) * running[channel] + momentum * variance[channel] * unbiasing
                }
            }
            let invstd = inverseStandardDeviation(variance)
            let output = normalize(input, mean: mean, inverseStandardDeviation: invstd, applyingReLU: applyingReLU)
            return (output, Cache(input: input, mean: mean, inverseStandardDeviation: invstd, usedBatchStatistics: true,
                                  exchange: statisticsExchange, statisticsCount: statisticsCount))
        }
    }

    /// Inference's per-channel affine map, y = x·scale + shift, from the running statistics:
    /// scale = γ / sqrt(running variance + ε), shift = β − running mean · scale (what
    /// `normalize` computes per channel, and what `FusedConvolution` folds into a convolution).
    public var inferenceScaleAndShift: (scale: [Float], shift: [Float]) {
        let invstd = inverseStandardDeviation(runningVariance.scalars)
        let (gamma, beta, mean) = (weight.scalars, bias.scalars, runningMean.scalars)
        let scale = (0..<channels).map { gamma[$0] * invstd[$0] }
        return (scale, (0..<channels).map { beta[$0] - mean[$0] * scale[$0] })
    }

    private func inverseStandardDeviation(_ variance: [Float]) -> [Float] {
        variance.map { 1 / ($0 + epsilon).squareRoot() } // [C]: small
    }

    /// y = γ·(x − mean)·invstd + β = x·scale + shift per channel, in one pass
    /// (then max(0, y) when asked), one channel per task.
    private func normalize(_ input: Tensor, mean: [Float], inverseStandardDeviation invstd: [Float],
                           applyingReLU: Bool) -> Tensor {
        let (batch, planeSize) = checkShape(input)
        let channels = channels
        return Tensor(overwriting: input.shape, with: { y in
            input.withUnsafeBufferPointer { x in
                weight.withUnsafeBufferPointer { gamma in
                    bias.withUnsafeBufferPointer { beta in
                        Parallel.forEach(channels) { channel in
                            let scale = gamma[channel] * invstd[channel]
                            let shift = beta[channel] - mean[channel] * scale
                            for image in 0..<batch {
                                let offset = (image * channels + channel) * planeSize
                                let source = x.baseAddress! + offset, target = y.baseAddress! + offset
                                if applyingReLU {
                                    // Exactly ReLU's max(y, 0) (NaN stays NaN).
                                    for index in 0..<planeSize {
                                        let value = source[index] * scale + shift
                                        target[index] = max(value, 0)
                                    }
                                } else {
                                    for index in 0..<planeSize { target[index] = source[index] * scale + shift }
                                }
                            }
                        }
                    }
                }
            }
        })
    }

    /// Accumulates dγ += Σ dy·x̂ and dβ += Σ dy (sums over B, H, W) and returns dx:
    /// with batch statistics, dx = γ·invstd/n · (n·dy − Σdy − x̂·Σ(dy·x̂));
    /// with running statistics, dx = γ·invstd·dy.
    public func backward(_ outputGradient: Tensor, cache: Cache, into gradients: inout Gradients) -> Tensor {
        backward(outputGradient, reluOutput: nil, cache: cache, into: &gradients)
    }

    /// The backward pass of `forwardThenReLU`: equal to `backward(ReLU().backward(dy,
    /// cache: ReLU.Cache(output: reluOutput)), ...)`, with the ReLU mask applied inside
    /// the BatchNorm passes instead of in a pass of its own.
    public func backwardThroughReLU(_ outputGradient: Tensor, reluOutput: Tensor, cache: Cache,
                                    into gradients: inout Gradients) -> Tensor {
        precondition(reluOutput.shape == outputGradient.shape,
                     "BatchNorm2d backward: ReLU output \(reluOutput.shape), gradient \(outputGradient.shape)")
        return backward(outputGradient, reluOutput: reluOutput, cache: cache, into: &gradients)
    }

    /// `backwardThroughReLU` with dx written over the gradient it reads (copied first only
    /// when shared): the same values, one activation-sized buffer fewer at the peak of the
    /// encoder's backward. Each channel reads its dy planes for the sums, then each element
    /// once more just before its dx overwrites it.
    public func backwardThroughReLU(inPlace gradient: inout Tensor, reluOutput: Tensor, cache: Cache,
                                    into gradients: inout Gradients) {
        precondition(reluOutput.shape == gradient.shape,
                     "BatchNorm2d backward: ReLU output \(reluOutput.shape), gradient \(gradient.shape)")
        let shape = gradient.shape
        gradient.withUnsafeMutableBufferPointer { gradient in
            backward(shape: shape, dy: UnsafePointer(gradient.baseAddress!), dx: gradient.baseAddress!,
                     reluOutput: reluOutput, cache: cache, into: &gradients)
        }
    }

    private func backward(_ outputGradient: Tensor, reluOutput: Tensor?, cache: Cache,
                          into gradients: inout Gradients) -> Tensor {
        Tensor(overwriting: outputGradient.shape, with: { dx in
            outputGradient.withUnsafeBufferPointer { dy in
                backward(shape: outputGradient.shape, dy: dy.baseAddress!, dx: dx.baseAddress!, reluOutput: reluOutput,
                         cache: cache, into: &gradients)
            }
        })
    }

    /// Accumulates dγ and dβ and writes dx (which may be dy itself) for a gradient of `shape`.
    private func backward(shape: [Int], dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, reluOutput: Tensor?,
                          cache: Cache, into gradients: inout Gradients) {
        let (batch, planeSize) = checkShape(shape)
        precondition(shape == cache.input.shape,
                     "BatchNorm2d backward: gradient \(shape), forward input \(cache.input.shape)")
        let channels = channels
        // Synchronised statistics were taken over the whole batch: so are backward's sums.
        let exchange = cache.usedBatchStatistics ? cache.exchange : nil
        let count = exchange == nil ? Double(batch * planeSize) : cache.statisticsCount
        // Without a ReLU the mask reads the input instead and is never used.
        let mask = reluOutput ?? cache.input
        let masked = reluOutput != nil
        mask.withUnsafeBufferPointer { reluY in
            cache.input.withUnsafeBufferPointer { x in
            weight.withUnsafeBufferPointer { gamma in
            gradients.weight.withUnsafeMutableBufferPointer { dGamma in
            gradients.bias.withUnsafeMutableBufferPointer { dBeta in
                /// Σ dy and Σ dy·(x − mean) of one channel, dy masked by the ReLU when fused.
                func sums(_ channel: Int) -> (gradient: Double, gradientTimesCentered: Double) {
                    let mean = cache.mean[channel]
                    var sumGradient = 0.0, sumGradientTimesCentered = 0.0
                    for image in 0..<batch {
                        let offset = (image * channels + channel) * planeSize
                        if masked {
                            let sums = BatchNorm2d.maskedSums(dy + offset, x.baseAddress! + offset,
                                                              reluY.baseAddress! + offset, count: planeSize, mean: mean)
                            sumGradient += sums.gradient
                            sumGradientTimesCentered += sums.gradientTimesCentered
                        } else {
                            sumGradient += FastMath.sum(dy + offset, count: planeSize)
                            sumGradientTimesCentered += FastMath.dot(dy + offset, x.baseAddress! + offset,
                                                                     count: planeSize, centeringSecondOn: mean)
                        }
                    }
                    return (sumGradient, sumGradientTimesCentered)
                }
                /// dγ and dβ from this batch's sums; dx from `whole`, the sums the statistics' batch gives.
                func finish(_ channel: Int, local: (gradient: Double, gradientTimesCentered: Double),
                            whole: (gradient: Double, gradientTimesCentered: Double)) {
                    let mean = cache.mean[channel], invstd = cache.inverseStandardDeviation[channel]
                    dGamma[channel] += Float(local.gradientTimesCentered * Double(invstd))
                    dBeta[channel] += Float(local.gradient)
                    // Σ dy·x̂ = invstd·Σ dy·(x − mean).
                    let sumGradientTimesNormalized = whole.gradientTimesCentered * Double(invstd)
                    let scale = gamma[channel] * invstd
                    // dx = scale·(dy − mean(dy) − x̂·mean(dy·x̂)), with x̂ = (x − mean)·invstd folded
                    // into one multiply-add per element; with running statistics both means are 0.
                    let meanGradient = cache.usedBatchStatistics ? Float(whole.gradient / count) : 0
                    let slope = cache.usedBatchStatistics ? Float(sumGradientTimesNormalized / count) * invstd : 0
                    for image in 0..<batch {
                        let offset = (image * channels + channel) * planeSize
                        BatchNorm2d.writeInputGradient(
                            dx + offset, dy: dy + offset, x: x.baseAddress! + offset,
                            reluOutput: masked ? reluY.baseAddress! + offset : nil, count: planeSize, scale: scale,
                            batchStatistics: cache.usedBatchStatistics ? (meanGradient, mean, slope) : nil)
                    }
                }
                if let exchange {
                    // Every channel's sums first, then one exchange, then dx.
                    let local = UnsafeMutableBufferPointer<Double>.allocate(capacity: 2 * channels)
                    defer { local.deallocate() }
                    Parallel.forEach(channels) { channel in
                        (local[2 * channel], local[2 * channel + 1]) = sums(channel)
                    }
                    var whole = Array(local)
                    exchange.sum(&whole)
                    Parallel.forEach(channels) { channel in
                        finish(channel, local: (local[2 * channel], local[2 * channel + 1]),
                               whole: (whole[2 * channel], whole[2 * channel + 1]))
                    }
                } else {
                    // One channel per task: its sums, its dγ and dβ entries and its dx planes.
                    Parallel.forEach(channels) { channel in
                        let channelSums = sums(channel)
                        finish(channel, local: channelSums, whole: channelSums)
                    }
                }
            }
            }
            }
            }
        }
    }

    /// dx = scale·(g − meanGradient − (x − mean)·slope) with batch statistics, else
    /// scale·g; g = dy, or dy where the ReLU output is positive (else 0) when fused.
    /// Written with SIMD vectors: a masked load (`y > 0 ? dy[i] : 0`) in a plain loop
    /// is a conditional load the compiler does not vectorise.
    @inline(never) // (inlined into the channel closure it crashed Swift 6.3.1's optimiser; one call per plane)
    static func writeInputGradient(_ dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                   reluOutput: UnsafePointer<Float>?, count: Int, scale: Float,
                                   batchStatistics: (meanGradient: Float, mean: Float, slope: Float)?) {
        typealias Vector = SIMD16<Float>
        let zeros = Vector(), scales = Vector(repeating: scale)
        let (meanGradient, mean, slope) = batchStatistics ?? (0, 0, 0)
        let meanGradients = Vector(repeating: meanGradient), means = Vector(repeating: mean)
        let slopes = Vector(repeating: slope)
        var index = 0
        while index + 16 <= count {
            var gradient = UnsafeRawPointer(dy + index).loadUnaligned(as: Vector.self)
            if let reluOutput {
                let output = UnsafeRawPointer(reluOutput + index).loadUnaligned(as: Vector.self)
                gradient = zeros.replacing(with: gradient, where: output .> zeros)
            }
            let result: Vector
            if batchStatistics != nil {
                let centered = UnsafeRawPointer(x + index).loadUnaligned(as: Vector.self) - means
                result = scales * (gradient - meanGradients - centered * slopes)
            } else {
                result = scales * gradient
            }
            UnsafeMutableRawPointer(dx + index).storeBytes(of: result, as: Vector.self)
            index += 16
        }
        while index < count {
            var gradient = dy[index]
            if let reluOutput, !(reluOutput[index] > 0) { gradient = 0 }
            dx[index] = batchStatistics != nil ? scale * (gradient - meanGradient - (x[index] - mean) * slope) : scale * gradient
            index += 1
        }
    }

    /// Σ g and Σ g·(x − mean) over a run, g = dy where the ReLU output is positive, else 0;
    /// sixteen partial sums, as in `FastMath`.
    @inline(__always)
    static func maskedSums(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ reluOutput: UnsafePointer<Float>,
                           count: Int, mean: Float) -> (gradient: Double, gradientTimesCentered: Double) {
        var sum = SIMD16<Float>(), product = SIMD16<Float>()
        let means = SIMD16<Float>(repeating: mean), zeros = SIMD16<Float>()
        var index = 0
        while index + 16 <= count {
            let output = UnsafeRawPointer(reluOutput + index).loadUnaligned(as: SIMD16<Float>.self)
            let gradient = zeros.replacing(with: UnsafeRawPointer(dy + index).loadUnaligned(as: SIMD16<Float>.self),
                                           where: output .> zeros)
            sum += gradient
            product += gradient * (UnsafeRawPointer(x + index).loadUnaligned(as: SIMD16<Float>.self) - means)
            index += 16
        }
        var totalSum = Double(sum.sum()), totalProduct = Double(product.sum())
        while index < count {
            let gradient = reluOutput[index] > 0 ? Double(dy[index]) : 0
            totalSum += gradient
            totalProduct += gradient * (Double(x[index]) - Double(mean))
            index += 1
        }
        return (totalSum, totalProduct)
    }
}

/// How synchronised BatchNorm sums its statistics over the ranks of a data-parallel run: `sum`
/// replaces each value by its sum over the ranks (an allreduce), every rank calling it at the same
/// points with buffers of the same length. It cannot fail: a rank whose exchange breaks ends the job.
public final class StatisticsExchange: @unchecked Sendable {
    public let sum: (inout [Double]) -> Void

    public init(sum: @escaping (inout [Double]) -> Void) {
        self.sum = sum
    }

    /// The whole batch's Σx and Σ(x − mean)² per channel, from this rank's (`count` values per
    /// channel): the sums and the count first, then each rank's squared deviations moved to the
    /// whole batch's mean exactly, M2 + n·(mean_rank − mean)² (Chan et al.), and summed. Returns
    /// the whole batch's count.
    func wholeBatch(sums: inout [Double], squaredDeviations: inout [Double], count: Int) -> Double {
        let local = sums
        var totals = sums + [Double(count)]
        sum(&totals)
        let wholeCount = totals.removeLast()
        sums = totals
        for channel in sums.indices {
            let shift = local[channel] / Double(count) - totals[channel] / wholeCount
            squaredDeviations[channel] += Double(count) * shift * shift
        }
        sum(&squaredDeviations)
        return wholeCount
    }
}
