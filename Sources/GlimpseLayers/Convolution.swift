import CGlimpseKernels
import GlimpseTensor

/// A 2-D convolution over NCHW images (PyTorch `nn.Conv2d`, groups 1, dilation 1),
/// computed as im2col followed by one sgemm.
///
/// Input [B, C, H, W], weight [O, C, kH, kW], output [B, O, Ho, Wo] with
/// Ho = (H + 2·padding − kH) / stride + 1 (likewise Wo).
/// Initialisation as PyTorch: weight and bias ~ U(-1/sqrt(fanIn), 1/sqrt(fanIn)),
/// fanIn = C·kH·kW.
///
/// Layout of the work, chosen so the products stay large and later tuning is local:
/// the weight is already a row-major [O, K] matrix (K = C·kH·kW, ordered c, ky, kx).
/// Images are processed in groups; a group's im2col matrix is [K, g·L]
/// (L = Ho·Wo, column = image·L + pixel), so one sgemm [O, K]·[K, g·L] covers the
/// group. Only small feature maps get several images per product (see
/// `minimumColumnsPerProduct`); a group of one writes straight into the output,
/// with no copy.
public struct Conv2d: Parameterized, Sendable {
    /// [O, C, kH, kW]
    public var weight: Tensor
    /// [O], or nil (the default: convolutions here are followed by BatchNorm).
    public var bias: Tensor?
    public let stride: Int
    public let padding: Int

    public var outputChannels: Int { weight.shape[0] }
    public var inputChannels: Int { weight.shape[1] }
    public var kernelHeight: Int { weight.shape[2] }
    public var kernelWidth: Int { weight.shape[3] }

    /// Images are grouped until a product is at least this many columns wide.
    /// Measured at 1 thread, batch 32, C = O: at 7×7 (49 columns per image)
    /// groups of 4–8 ran forward ~20% faster than one image at a time; at 14×14
    /// and 28×28 grouping gained nothing or lost (larger column buffers leave the
    /// cache), so it only applies to small feature maps.
    public static let minimumColumnsPerProduct = 256

    /// Floats of im2col columns per product for one image (1 MiB: Zen 4's L2 per core).
    static let columnTileBudget = 256 * 1024

    public struct Gradients: Sendable {
        /// [O, C, kH, kW]
        public var weight: Tensor
        /// [O]
        public var bias: Tensor?
    }

    public struct Cache: Sendable {
        /// [B, C, H, W]. The im2col matrix is rebuilt from it in backward rather
        /// than kept: it is kH·kW times larger than the input.
        public var input: Tensor
    }

    public init(weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 1) {
        precondition(weight.rank == 4, "Conv2d weight must be [O, C, kH, kW], got \(weight.shape)")
        precondition(stride >= 1 && padding >= 0, "Conv2d needs stride >= 1 and padding >= 0")
        if let bias {
            precondition(bias.shape == [weight.shape[0]], "Conv2d bias must be [\(weight.shape[0])], got \(bias.shape)")
        }
        self.weight = weight
        self.bias = bias
        self.stride = stride
        self.padding = padding
    }

    /// PyTorch's default initialisation; 3x3, stride 1, padding 1 and no bias unless told.
    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int = 3, stride: Int = 1,
                padding: Int = 1, hasBias: Bool = false, using generator: inout SeededGenerator) {
        let fanIn = inputChannels * kernelSize * kernelSize
        let weight = Initialization.uniformFanIn([outputChannels, inputChannels, kernelSize, kernelSize],
                                                 fanIn: fanIn, using: &generator)
        let bias = hasBias ? Initialization.uniformFanIn([outputChannels], fanIn: fanIn, using: &generator) : nil
        self.init(weight: weight, bias: bias, stride: stride, padding: padding)
    }

    public var parameterPaths: [ParameterPath<Conv2d>] {
        var paths = [ParameterPath<Conv2d>(name: "weight", parameter: \.weight, gradient: \.weight)]
        if bias != nil { paths.append(ParameterPath(name: "bias", parameter: \.bias!, gradient: \.bias!)) }
        return paths
    }

    public func zeroGradients() -> Gradients {
        Gradients(weight: Tensor(zeros: weight.shape), bias: bias.map { Tensor(zeros: $0.shape) })
    }

    /// [Ho, Wo] for an input of height × width.
    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        ((height + 2 * padding - kernelHeight) / stride + 1, (width + 2 * padding - kernelWidth) / stride + 1)
    }

    private func geometry(of input: Tensor) -> Geometry {
        precondition(input.rank == 4 && input.shape[1] == inputChannels,
                     "Conv2d(\(inputChannels) -> \(outputChannels)) needs [B, \(inputChannels), H, W], got \(input.shape)")
        let (outputHeight, outputWidth) = outputSize(height: input.shape[2], width: input.shape[3])
        precondition(outputHeight > 0 && outputWidth > 0, "Conv2d: input \(input.shape) is smaller than the kernel")
        let pixels = outputHeight * outputWidth
        let batch = input.shape[0]
        return Geometry(batch: batch, channels: inputChannels, height: input.shape[2], width: input.shape[3],
                        kernelHeight: kernelHeight, kernelWidth: kernelWidth, stride: stride, padding: padding,
                        outputHeight: outputHeight, outputWidth: outputWidth,
                        groupSize: max(1, min(batch, Conv2d.minimumColumnsPerProduct / pixels)))
    }

    /// Inference: no cache.
    ///
    /// With `Parallel.threadCount` > 1 the image groups are spread over the cores, each
    /// worker doing its own im2col and single-threaded sgemm: the im2col and layout
    /// copies, which ran on one core between multi-threaded sgemms, then run in
    /// parallel too, and the workers never wait for each other inside a product.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        if usesDirectKernel { return forwardDirect(input) }
        if let tile = winogradForwardTile(for: input) { return forwardWinograd(input, tile: tile) }
        return forwardThroughColumns(input)
    }

    /// Whether this layer runs the direct 3x3 kernels (CGlimpseKernels) instead of im2col + sgemm.
    ///
    /// Why by shape: with few input channels (the first layer, C = 3) the im2col product's
    /// inner dimension is only C·9 = 27, so sgemm spends its time packing a [27, L] matrix
    /// it uses 27 times per output and wrote to memory just before: the first layer ran at
    /// under half the sgemm peak (forward ~80, weight gradient ~55–61 GFLOP/s of ~185).
    /// The direct kernels read the zero-padded input planes (L2-resident) instead, with
    /// 4 output channels × 16 columns (forward) or 3 channels × 3 taps (weight gradient)
    /// in AVX2 registers. Other shapes keep im2col + sgemm, which is already near the peak.
    /// Off on CPUs without AVX2 + FMA (checked once at run time).
    var usesDirectKernel: Bool {
        inputChannels <= 4 && kernelHeight == 3 && kernelWidth == 3 && stride == 1
            && Conv2d.directKernelsAvailable && Conv2d.directKernelsEnabled
    }

    static let directKernelsAvailable = glimpse_conv3x3_available() != 0

    /// Set to false (once, at start-up, like `Parallel.threadCount`) to run every shape
    /// through im2col + sgemm: glimpse-benchmarks compares the two paths this way.
    nonisolated(unsafe) public static var directKernelsEnabled = true

    /// The direct kernel's forward: one image per task, over the Parallel workers; bias, then
    /// ReLU when `rectified`.
    func forwardDirect(_ input: Tensor, rectified: Bool = false) -> Tensor {
        let shape = geometry(of: input)
        let outputChannels = outputChannels, pixels = shape.pixels
        let scratchCount = glimpse_conv3x3_scratch_count(Int32(shape.channels), Int32(shape.height), Int32(shape.width),
                                                         Int32(padding), Int32(outputChannels))
        return Tensor(overwriting: [shape.batch, outputChannels, shape.outputHeight, shape.outputWidth], with: { output in
            input.withUnsafeBufferPointer { input in
                weight.withUnsafeBufferPointer { weight in
                    Parallel.forEach(shape.batch) { image in
                        let scratch = BufferPool.shared.allocate(count: scratchCount)
                        defer { BufferPool.shared.release(scratch, count: scratchCount) }
                        glimpse_conv3x3_forward(input.baseAddress! + image * shape.inputImageSize, Int32(shape.channels),
                                                Int32(shape.height), Int32(shape.width), Int32(padding),
                                                weight.baseAddress!, Int32(outputChannels),
                                                output.baseAddress! + image * outputChannels * pixels, scratch)
                        Conv2d.finish(output.baseAddress! + image * outputChannels * pixels,
                                      planes: 0..<outputChannels, pixels: pixels, bias: bias, rectified: rectified)
                    }
                }
            }
        })
    }

    /// im2col + sgemm (every shape; the only path when `usesDirectKernel` is false); bias,
    /// then ReLU when `rectified`.
    func forwardThroughColumns(_ input: Tensor, rectified: Bool = false) -> Tensor {
        let shape = geometry(of: input)
        let outputChannels = outputChannels, rowLength = shape.rowLength, pixels = shape.pixels
        let groupCount = (shape.batch + shape.groupSize - 1) / shape.groupSize
        let columnsCount = rowLength * shape.groupSize * pixels
        // For groups of several images the product lands here, then moves to NCHW.
        let productCount = shape.groupSize > 1 ? outputChannels * shape.groupSize * pixels : 1
        return Tensor(overwriting: [shape.batch, outputChannels, shape.outputHeight, shape.outputWidth], with: { output in
            input.withUnsafeBufferPointer { input in
                weight.withUnsafeBufferPointer { weight in
                    Conv2d.forEachGroup(groupCount) { group in
                        // Per task, from the pool: after the first call these are recycled buffers.
                        let columns = BufferPool.shared.allocate(count: columnsCount)
                        defer { BufferPool.shared.release(columns, count: columnsCount) }
                        let first = group * shape.groupSize
                        let count = min(shape.groupSize, shape.batch - first)
                        let width = count * pixels
                        if count == 1 && shape.isPointwise {
                            // A 1×1, stride-1, unpadded layer's im2col matrix is the image itself: Y[O, L] = W[O, C] · X[C, L].
                            BLAS.sgemm(transposeA: false, transposeB: false, m: outputChannels, n: pixels, k: rowLength,
                                       a: weight.baseAddress!, lda: rowLength, b: input.baseAddress! + first * shape.inputImageSize,
                                       ldb: pixels, c: output.baseAddress! + first * outputChannels * pixels, ldc: pixels)
                        } else if count == 1 {
                            // One image, in tiles of output rows: Y[O, tile] = W[O, K] · col[K, tile].
                            let tileRows = shape.rowsPerTile
                            for top in Swift.stride(from: 0, to: shape.outputHeight, by: tileRows) {
                                let rows = top..<min(shape.outputHeight, top + tileRows)
                                let tileWidth = rows.count * shape.outputWidth
                                shape.im2col(image: input.baseAddress! + first * shape.inputImageSize, into: columns,
                                             leadingDimension: tileWidth, outputRows: rows)
                                BLAS.sgemm(transposeA: false, transposeB: false, m: outputChannels, n: tileWidth, k: rowLength,
                                           a: weight.baseAddress!, lda: rowLength, b: columns, ldb: tileWidth,
                                           c: output.baseAddress! + first * outputChannels * pixels + top * shape.outputWidth,
                                           ldc: pixels)
                            }
                        } else {
                            for image in 0..<count {
                                shape.im2col(image: input.baseAddress! + (first + image) * shape.inputImageSize,
                                             into: columns + image * pixels, leadingDimension: width)
                            }
                            let product = BufferPool.shared.allocate(count: productCount)
                            defer { BufferPool.shared.release(product, count: productCount) }
                            BLAS.sgemm(transposeA: false, transposeB: false, m: outputChannels, n: width, k: rowLength,
                                       a: weight.baseAddress!, lda: rowLength, b: columns, ldb: width,
                                       c: product, ldc: width)
                            for image in 0..<count {
                                for channel in 0..<outputChannels {
                                    (output.baseAddress! + ((first + image) * outputChannels + channel) * pixels)
                                        .update(from: product + channel * width + image * pixels, count: pixels)
                                }
                            }
                        }
                        Conv2d.finish(output.baseAddress!, planes: (first * outputChannels)..<((first + count) * outputChannels),
                                      pixels: pixels, bias: bias, rectified: rectified)
                    }
                }
            }
        })
    }

    /// Adds the bias to output planes (plane p is channel p mod O), then applies ReLU when
    /// `rectified` (max(y, 0) as `ReLU`: NaN stays NaN).
    static func finish(_ output: UnsafeMutablePointer<Float>, planes: Range<Int>, pixels: Int, bias: Tensor?,
                       rectified: Bool) {
        guard bias != nil || rectified else { return }
        let values = bias?.scalars
        for plane in planes {
            let target = output + plane * pixels
            let value = values.map { $0[plane % $0.count] } ?? 0
            if rectified {
                for index in 0..<pixels { target[index] = max(target[index] + value, 0) }
            } else {
                for index in 0..<pixels { target[index] += value }
            }
        }
    }

    /// Runs `body` for every image group: spread over `Parallel.threadCount` workers,
    /// each with single-threaded BLAS, or in order with the BLAS threads when that is 1.
    static func forEachGroup(_ groupCount: Int, _ body: (Int) -> Void) {
        if Parallel.threadCount > 1 && groupCount > 1 {
            BLAS.singleThreaded { Parallel.forEach(groupCount, body) }
        } else {
            for group in 0..<groupCount { body(group) }
        }
    }

    public func forward(_ input: Tensor) -> (output: Tensor, cache: Cache) {
        (self(input), Cache(input: input))
    }

    /// Accumulates dW += dY·colᵀ (and db); returns dX.
    ///
    /// For stride 1 and a square kernel, dX is itself a convolution: dY correlated with
    /// the weight flipped in space and transposed in channels, padded by k − 1 − padding.
    /// That product has an inner dimension of O·k·k instead of O, and needs no
    /// scatter-add (col2im), so it runs several times faster than dcol = Wᵀ·dY.
    public func backward(_ outputGradient: Tensor, cache: Cache, into gradients: inout Gradients) -> Tensor {
        if usesDirectKernel {
            // dX through col2im (C is small, so dcol = Wᵀ·dY is cheap); dW by the direct kernel.
            let inputGradient = backwardThroughColumns(outputGradient, cache: cache, into: &gradients,
                                                       computingInputGradient: true, computingWeightGradient: false)!
            backwardWeightsDirect(outputGradient, cache: cache, into: &gradients)
            return inputGradient
        }
        if stride == 1 && kernelHeight == kernelWidth && padding <= kernelHeight - 1 {
            backwardWeights(outputGradient, cache: cache, into: &gradients)
            return transposedForInputGradient()(outputGradient)
        }
        return backwardThroughColumns(outputGradient, cache: cache, into: &gradients, computingInputGradient: true)!
    }

    /// Accumulates dW (and db) only: for a first layer, whose input (the image) needs no gradient.
    public func backwardWeights(_ outputGradient: Tensor, cache: Cache, into gradients: inout Gradients) {
        if usesDirectKernel {
            backwardWeightsDirect(outputGradient, cache: cache, into: &gradients)
        } else if let tile = winogradWeightGradientTile(for: cache.input) {
            backwardWeightsWinograd(outputGradient, cache: cache, into: &gradients, tile: tile)
        } else {
            backwardWeightsThroughColumns(outputGradient, cache: cache, into: &gradients)
        }
    }

    /// dW (and db) by im2col + sgemm, whatever the shape.
    func backwardWeightsThroughColumns(_ outputGradient: Tensor, cache: Cache, into gradients: inout Gradients) {
        _ = backwardThroughColumns(outputGradient, cache: cache, into: &gradients, computingInputGradient: false)
    }

    /// dW (and db) by the direct kernel: the same fixed chunks of images as the sgemm path,
    /// one partial sum each, images in order inside a chunk, chunks added in order.
    func backwardWeightsDirect(_ outputGradient: Tensor, cache: Cache, into gradients: inout Gradients) {
        let shape = geometry(of: cache.input)
        let outputChannels = outputChannels, pixels = shape.pixels
        precondition(outputGradient.shape == [shape.batch, outputChannels, shape.outputHeight, shape.outputWidth],
                     "Conv2d backward: output gradient \(outputGradient.shape) does not match the forward output")
        let chunkCount = min(shape.batch, Conv2d.weightGradientChunks)
        let weightCount = outputChannels * shape.rowLength
        let partialsCount = chunkCount * weightCount
        let partials = BufferPool.shared.allocate(count: partialsCount)
        defer { BufferPool.shared.release(partials, count: partialsCount) }
        partials.update(repeating: 0, count: partialsCount)
        let scratchCount = glimpse_conv3x3_scratch_count(Int32(shape.channels), Int32(shape.height), Int32(shape.width),
                                                         Int32(padding), Int32(outputChannels))
        cache.input.withUnsafeBufferPointer { input in
            outputGradient.withUnsafeBufferPointer { dOutput in
                Parallel.forEach(chunkCount) { chunk in
                    let scratch = BufferPool.shared.allocate(count: scratchCount)
                    defer { BufferPool.shared.release(scratch, count: scratchCount) }
                    for image in (chunk * shape.batch / chunkCount)..<((chunk + 1) * shape.batch / chunkCount) {
                        glimpse_conv3x3_weight_gradient(input.baseAddress! + image * shape.inputImageSize,
                                                        Int32(shape.channels), Int32(shape.height), Int32(shape.width),
                                                        Int32(padding), dOutput.baseAddress! + image * outputChannels * pixels,
                                                        Int32(outputChannels), partials + chunk * weightCount, scratch)
                    }
                }
            }
        }
        Conv2d.addWeightPartials(partials, count: chunkCount, weightCount: weightCount,
                                 outputGradient: outputGradient, into: &gradients)
    }

    /// The convolution that maps dY to dX when stride is 1: weight [C, O, k, k] with
    /// W'[c, o, i, j] = W[o, c, k−1−i, k−1−j], padding k − 1 − padding.
    func transposedForInputGradient() -> Conv2d {
        let (outputs, inputs, kernel) = (outputChannels, inputChannels, kernelHeight)
        let flipped = Tensor(shape: [inputs, outputs, kernel, kernel]) { target in
            weight.withUnsafeBufferPointer { source in
                for o in 0..<outputs {
                    for c in 0..<inputs {
                        for i in 0..<kernel {
                            for j in 0..<kernel {
                                target[((c * outputs + o) * kernel + i) * kernel + j] =
                                    source[((o * inputs + c) * kernel + (kernel - 1 - i)) * kernel + (kernel - 1 - j)]
                            }
                        }
                    }
                }
            }
        }
        return Conv2d(weight: flipped, bias: nil, stride: 1, padding: kernel - 1 - padding)
    }

    /// The weight gradient is summed in this many partial sums, over fixed runs of image
    /// groups, which run in parallel and are then added in order: the result does not
    /// depend on the thread count or on scheduling.
    static let weightGradientChunks = 4

    /// dW += dY·colᵀ (and db) and, when asked, dX = col2im(Wᵀ·dY).
    private func backwardThroughColumns(_ outputGradient: Tensor, cache: Cache, into gradients: inout Gradients,
                                        computingInputGradient: Bool, computingWeightGradient: Bool = true) -> Tensor? {
        let shape = geometry(of: cache.input)
        let outputChannels = outputChannels
        precondition(outputGradient.shape == [shape.batch, outputChannels, shape.outputHeight, shape.outputWidth],
                     "Conv2d backward: output gradient \(outputGradient.shape) does not match the forward output")
        var inputGradient = Tensor(zeros: computingInputGradient ? cache.input.shape : [0])
        let groupCount = (shape.batch + shape.groupSize - 1) / shape.groupSize
        let chunkCount = min(groupCount, Conv2d.weightGradientChunks)
        let weightCount = outputChannels * shape.rowLength
        // Chunk c's dW, [O, K] each; chunk c covers groups c·G/chunks ..< (c+1)·G/chunks.
        let partialsCount = chunkCount * weightCount
        let partials = BufferPool.shared.allocate(count: partialsCount)
        defer { BufferPool.shared.release(partials, count: partialsCount) }

        cache.input.withUnsafeBufferPointer { input in
            weight.withUnsafeBufferPointer { weight in
                outputGradient.withUnsafeBufferPointer { dOutput in
                    inputGradient.withUnsafeMutableBufferPointer { dInput in
                        let pass = ColumnBackwardPass(shape: shape, outputChannels: outputChannels, input: input,
                                                      weight: weight, outputGradient: dOutput,
                                                      inputGradient: computingInputGradient ? dInput : nil,
                                                      computingWeightGradient: computingWeightGradient)
                        Conv2d.forEachGroup(chunkCount) { chunk in
                            pass.run(groups: (chunk * groupCount / chunkCount)..<((chunk + 1) * groupCount / chunkCount),
                                     partial: partials + chunk * weightCount)
                        }
                    }
                }
            }
        }
        if computingWeightGradient {
            Conv2d.addWeightPartials(partials, count: chunkCount, weightCount: weightCount,
                                     outputGradient: outputGradient, into: &gradients)
        }
        return computingInputGradient ? inputGradient : nil
    }

    /// dW += the `count` partial sums [O, K] at `partials`, in order; db += Σ dY over
    /// images and pixels.
    static func addWeightPartials(_ partials: UnsafePointer<Float>, count chunkCount: Int, weightCount: Int,
                                  outputGradient: Tensor, into gradients: inout Gradients) {
        gradients.weight.withUnsafeMutableBufferPointer { dWeight in
            for chunk in 0..<chunkCount {
                let partial = partials + chunk * weightCount
                for index in 0..<weightCount { dWeight[index] += partial[index] }
            }
        }
        if gradients.bias != nil {
            gradients.bias!.add(outputGradient.sum(alongAxes: [0, 2, 3]), scaledBy: 1)
        }
    }
}

/// `Conv2d.backwardThroughColumns` over the buffers of tensors its caller holds: each
/// chunk of image groups, on whichever worker runs it, with scratch buffers of its own.
private struct ColumnBackwardPass {
    let shape: Geometry
    let outputChannels: Int
    /// x [B, C, H, W], W [O, K], dY [B, O, Ho, Wo]
    let input, weight, outputGradient: UnsafeBufferPointer<Float>
    /// dX [B, C, H, W] to add into; nil when it is not asked for.
    let inputGradient: UnsafeMutableBufferPointer<Float>?
    let computingWeightGradient: Bool

    /// Runs `groups` in order, summing their dW into `partial` [O, K], which the first
    /// group overwrites.
    func run(groups: Range<Int>, partial: UnsafeMutablePointer<Float>) {
        let capacity = shape.rowLength * shape.groupSize * shape.pixels
        let columnGradientCount = inputGradient != nil ? capacity : 1
        // dY of a group gathered to [O, g·L], to match the column layout.
        let gatheredCount = shape.groupSize > 1 ? outputChannels * shape.groupSize * shape.pixels : 1
        let columns = BufferPool.shared.allocate(count: capacity)
        defer { BufferPool.shared.release(columns, count: capacity) }
        let columnGradient = BufferPool.shared.allocate(count: columnGradientCount)
        defer { BufferPool.shared.release(columnGradient, count: columnGradientCount) }
        let gathered = BufferPool.shared.allocate(count: gatheredCount)
        defer { BufferPool.shared.release(gathered, count: gatheredCount) }
        for group in groups {
            let first = group * shape.groupSize
            let count = min(shape.groupSize, shape.batch - first)
            if count == 1 && inputGradient == nil {
                weightGradientInTiles(image: first, isFirst: group == groups.lowerBound, columns: columns, partial: partial)
            } else {
                backward(images: first..<(first + count), isFirst: group == groups.lowerBound, columns: columns,
                         gathered: gathered, columnGradient: columnGradient, partial: partial)
            }
        }
    }

    /// One image, dW only, in tiles of output rows: partial += dY[O, tile] · col[K, tile]ᵀ
    /// (= when `isFirst`, for the first tile).
    private func weightGradientInTiles(image: Int, isFirst: Bool, columns: UnsafeMutablePointer<Float>,
                                       partial: UnsafeMutablePointer<Float>) {
        let rowLength = shape.rowLength, pixels = shape.pixels
        let tileRows = shape.rowsPerTile
        for top in Swift.stride(from: 0, to: shape.outputHeight, by: tileRows) {
            let rows = top..<min(shape.outputHeight, top + tileRows)
            let tileWidth = rows.count * shape.outputWidth
            shape.im2col(image: input.baseAddress! + image * shape.inputImageSize, into: columns,
                         leadingDimension: tileWidth, outputRows: rows)
            BLAS.sgemm(transposeA: false, transposeB: true, m: outputChannels, n: rowLength,
                       k: tileWidth,
                       a: outputGradient.baseAddress! + image * outputChannels * pixels + top * shape.outputWidth,
                       lda: pixels, b: columns, ldb: tileWidth,
                       beta: isFirst && top == 0 ? 0 : 1, c: partial,
                       ldc: rowLength)
        }
    }

    /// One group of images as a whole: col[K, gL] by im2col, then partial[O, K] (+)= dY·colᵀ
    /// (= when `isFirst`) and dX += col2im(Wᵀ·dY), as asked.
    private func backward(images: Range<Int>, isFirst: Bool, columns: UnsafeMutablePointer<Float>,
                          gathered: UnsafeMutablePointer<Float>, columnGradient: UnsafeMutablePointer<Float>,
                          partial: UnsafeMutablePointer<Float>) {
        let rowLength = shape.rowLength, pixels = shape.pixels
        let (first, count) = (images.lowerBound, images.count)
        let width = count * pixels
        for image in 0..<count {
            shape.im2col(image: input.baseAddress! + (first + image) * shape.inputImageSize,
                         into: columns + image * pixels, leadingDimension: width)
        }
        let groupGradient = groupOutputGradient(images, gathered: gathered) // [O, gL]
        // partial[O, K] (+)= dY[O, gL] · col[K, gL]ᵀ
        if computingWeightGradient {
            BLAS.sgemm(transposeA: false, transposeB: true, m: outputChannels, n: rowLength, k: width,
                       a: groupGradient, lda: width, b: columns, ldb: width,
                       beta: isFirst ? 0 : 1, c: partial, ldc: rowLength)
        }
        guard let inputGradient else { return }
        // dcol[K, gL] = W[O, K]ᵀ · dY[O, gL]
        BLAS.sgemm(transposeA: true, transposeB: false, m: rowLength, n: width, k: outputChannels,
                   a: weight.baseAddress!, lda: rowLength, b: groupGradient, ldb: width,
                   c: columnGradient, ldc: width)
        for image in 0..<count {
            shape.col2im(columnGradient + image * pixels, leadingDimension: width,
                         addingInto: inputGradient.baseAddress! + (first + image) * shape.inputImageSize)
        }
    }

    /// dY of `images` as [O, gL]: one image's own planes, or several images' gathered into `gathered`.
    private func groupOutputGradient(_ images: Range<Int>, gathered: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
        let pixels = shape.pixels
        let (first, count) = (images.lowerBound, images.count)
        if count == 1 { return outputGradient.baseAddress! + first * outputChannels * pixels }
        let width = count * pixels
        for image in 0..<count {
            for channel in 0..<outputChannels {
                (gathered + channel * width + image * pixels).update(
                    from: outputGradient.baseAddress! + ((first + image) * outputChannels + channel) * pixels,
                    count: pixels)
            }
        }
        return UnsafePointer(gathered)
    }
}

/// The sizes of one convolution call, and the im2col / col2im loops over them.
struct Geometry {
    let batch, channels, height, width: Int
    let kernelHeight, kernelWidth, stride, padding: Int
    let outputHeight, outputWidth: Int
    /// Images per sgemm.
    let groupSize: Int

    /// Output rows per im2col tile for one image: the tile's [K, rows·Wo] columns within
    /// `Conv2d.columnTileBudget` floats, so that sgemm packs them from the L2 cache instead
    /// of memory. Whole images when their columns are under twice the budget, or when a
    /// tile would be under 256 columns (a product that narrow runs slower than the cache
    /// saves). Measured at batch 8: 32->32 at 128x128 went from 0.5 to 0.7 of the sgemm
    /// peak, forward and backward; the first layer (K = 27) lost when split.
    var rowsPerTile: Int {
        let rows = Conv2d.columnTileBudget / (rowLength * outputWidth)
        let whole = rowLength * pixels < 2 * Conv2d.columnTileBudget || rows * outputWidth < 256
        return whole ? outputHeight : rows
    }

    /// L: output pixels per image.
    var pixels: Int { outputHeight * outputWidth }
    /// 1×1, stride 1, no padding: each output pixel reads only its own input pixel, so the
    /// im2col matrix [C, L] is the image's own channel planes.
    var isPointwise: Bool { kernelHeight == 1 && kernelWidth == 1 && stride == 1 && padding == 0 }
    /// K: rows of the im2col matrix, ordered (channel, ky, kx) like the weight.
    var rowLength: Int { channels * kernelHeight * kernelWidth }
    var inputImageSize: Int { channels * height * width }

    /// For kernel column `kx`, the output columns whose input column is inside the
    /// image: ox in validColumns ⇔ 0 ≤ ox·stride − padding + kx < width.
    @inline(__always)
    func validColumns(kernelColumn kx: Int) -> Range<Int> {
        let lowNumerator = padding - kx
        let start = lowNumerator <= 0 ? 0 : (lowNumerator + stride - 1) / stride
        let highNumerator = width - 1 + padding - kx
        let end = highNumerator < 0 ? 0 : min(outputWidth, highNumerator / stride + 1)
        return start..<max(start, end)
    }

    /// Writes one image's im2col matrix [K, L] into `columns`, whose rows are
    /// `leadingDimension` apart (wider than L when several images share it).
    /// With `outputRows`, only those output rows' columns, from column 0.
    func im2col(image: UnsafePointer<Float>, into columns: UnsafeMutablePointer<Float>, leadingDimension: Int,
                outputRows: Range<Int>? = nil) {
        let outputRows = outputRows ?? 0..<outputHeight
        for channel in 0..<channels {
            for ky in 0..<kernelHeight {
                for kx in 0..<kernelWidth {
                    let row = (channel * kernelHeight + ky) * kernelWidth + kx
                    let valid = validColumns(kernelColumn: kx)
                    for oy in outputRows {
                        let target = columns + row * leadingDimension + (oy - outputRows.lowerBound) * outputWidth
                        let iy = oy * stride - padding + ky
                        guard iy >= 0 && iy < height else {
                            target.update(repeating: 0, count: outputWidth)
                            continue
                        }
                        // Input column of output column ox: ox·stride + shift.
                        let source = image + (channel * height + iy) * width
                        let shift = kx - padding
                        for ox in 0..<valid.lowerBound { target[ox] = 0 }
                        if stride == 1 {
                            (target + valid.lowerBound).update(from: source + (valid.lowerBound + shift), count: valid.count)
                        } else if stride == 2 {
                            Self.gatherEven(source + shift, into: target, columns: valid, rowEnd: width - shift)
                        } else {
                            for ox in valid { target[ox] = source[ox * stride + shift] }
                        }
                        for ox in valid.upperBound..<outputWidth { target[ox] = 0 }
                    }
                }
            }
        }
    }

    /// target[ox] = source[2·ox] for ox in `columns`: eight at a time as the even lanes of
    /// sixteen loaded, while the load stays before `rowEnd` (the row's end, from `source`); then
    /// one at a time. Stride-2 layers (ResNet's stem and downsampling) spend their im2col here.
    @inline(__always)
    static func gatherEven(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, columns: Range<Int>,
                           rowEnd: Int) {
        var ox = columns.lowerBound
        while ox + 8 <= columns.upperBound && 2 * ox + 16 <= rowEnd {
            let pair = UnsafeRawPointer(source + 2 * ox).loadUnaligned(as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(target + ox).storeBytes(of: pair.evenHalf, as: SIMD8<Float>.self)
            ox += 8
        }
        while ox < columns.upperBound {
            target[ox] = source[2 * ox]
            ox += 1
        }
    }

    /// The adjoint of `im2col`: adds each column entry back onto the input pixel it came from.
    func col2im(_ columns: UnsafePointer<Float>, leadingDimension: Int, addingInto image: UnsafeMutablePointer<Float>) {
        for channel in 0..<channels {
            for ky in 0..<kernelHeight {
                for kx in 0..<kernelWidth {
                    let row = (channel * kernelHeight + ky) * kernelWidth + kx
                    let valid = validColumns(kernelColumn: kx)
                    for oy in 0..<outputHeight {
                        let iy = oy * stride - padding + ky
                        guard iy >= 0 && iy < height else { continue }
                        let source = columns + row * leadingDimension + oy * outputWidth
                        let target = image + (channel * height + iy) * width
                        let shift = kx - padding
                        for ox in valid { target[ox * stride + shift] += source[ox] }
                    }
                }
            }
        }
    }
}
