import GlimpseTensor

/// Max pooling over NCHW images with a square window (PyTorch `nn.MaxPool2d(k, stride,
/// padding)`, floor mode): [B, C, H, W] -> [B, C, Ho, Wo], Ho = (H + 2·padding − k) / stride + 1.
/// Padding never wins (PyTorch pads with −∞). The encoder's stages use k = stride = 2;
/// ResNet's stem uses k = 3, stride 2, padding 1.
///
/// Ties go to the first maximum in row-major window order, as in PyTorch;
/// backward routes each output gradient to that one input.
public struct MaxPool2d: Sendable {
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int

    /// `stride` defaults to the kernel size, as in PyTorch.
    public init(kernelSize: Int = 2, stride: Int? = nil, padding: Int = 0) {
        precondition(kernelSize >= 1, "MaxPool2d needs a positive kernel size")
        precondition((stride ?? kernelSize) >= 1 && padding >= 0 && 2 * padding <= kernelSize,
                     "MaxPool2d needs stride >= 1 and 0 <= padding <= kernel/2 (as PyTorch)")
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
    }

    public struct Cache: Sendable {
        /// [B·C·Ho·Wo]: for each output, the index within its input plane
        /// (iy·W + ix) of the maximum.
        public var argmax: [Int32]
        /// [B, C, H, W]
        public var inputShape: [Int]
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        pool(input, recordingArgmax: false).output
    }

    public func forward(_ input: Tensor) -> (output: Tensor, cache: Cache) {
        let (output, argmax) = pool(input, recordingArgmax: true)
        return (output, Cache(argmax: argmax, inputShape: input.shape))
    }

    private func outputShape(_ shape: [Int]) -> [Int] {
        precondition(shape.count == 4 && shape[2] + 2 * padding >= kernelSize && shape[3] + 2 * padding >= kernelSize,
                     "MaxPool2d(\(kernelSize)) needs [B, C, H, W] with H, W >= \(kernelSize - 2 * padding), got \(shape)")
        return [shape[0], shape[1], (shape[2] + 2 * padding - kernelSize) / stride + 1,
                (shape[3] + 2 * padding - kernelSize) / stride + 1]
    }

    private func pool(_ input: Tensor, recordingArgmax: Bool) -> (output: Tensor, argmax: [Int32]) {
        let shape = outputShape(input.shape)
        let planes = shape[0] * shape[1]
        let (height, width) = (input.shape[2], input.shape[3])
        let (outputHeight, outputWidth) = (shape[2], shape[3])
        let (kernelSize, stride, padding) = (kernelSize, stride, padding)
        let unrolled = kernelSize == 2 && stride == 2 && padding == 0
        var argmax = [Int32](repeating: 0, count: recordingArgmax ? Tensor.count(of: shape) : 0)
        let output = Tensor(overwriting: shape, with: { y in
            input.withUnsafeBufferPointer { x in
                argmax.withUnsafeMutableBufferPointer { argmax in
                    // Planes are independent: spread them over the cores, in chunks of
                    // roughly equal work so that small maps do not pay a dispatch per plane.
                    let chunk = max(1, (1 << 16) / (height * width))
                    Parallel.forEach((planes + chunk - 1) / chunk) { task in
                        for plane in (task * chunk)..<min(planes, (task + 1) * chunk) {
                            let source = x.baseAddress! + plane * height * width
                            let outputOffset = plane * outputHeight * outputWidth
                            if unrolled {
                                MaxPool2d.pool2x2(source, width: width, outputHeight: outputHeight, outputWidth: outputWidth,
                                                  into: y.baseAddress! + outputOffset,
                                                  argmax: recordingArgmax ? argmax.baseAddress! + outputOffset : nil)
                                continue
                            }
                            if !recordingArgmax {
                                separableMaximum(source, height: height, width: width, outputHeight: outputHeight,
                                                 outputWidth: outputWidth, into: y.baseAddress! + outputOffset)
                                continue
                            }
                            for oy in 0..<outputHeight {
                                // The window's rows and columns inside the image (padding is skipped).
                                let rows = max(0, oy * stride - padding)..<min(height, oy * stride - padding + kernelSize)
                                for ox in 0..<outputWidth {
                                    let columns = max(0, ox * stride - padding)..<min(width, ox * stride - padding + kernelSize)
                                    var best = rows.lowerBound * width + columns.lowerBound
                                    var bestValue = source[best]
                                    for iy in rows {
                                        for ix in columns {
                                            let index = iy * width + ix
                                            // `>` keeps the first of equal maxima; NaN propagates like PyTorch.
                                            if source[index] > bestValue || source[index].isNaN && !bestValue.isNaN {
                                                best = index
                                                bestValue = source[index]
                                            }
                                        }
                                    }
                                    y[outputOffset + oy * outputWidth + ox] = bestValue
                                    if recordingArgmax { argmax[outputOffset + oy * outputWidth + ox] = Int32(best) }
                                }
                            }
                        }
                    }
                }
            }
        })
        return (output, argmax)
    }

    /// Inference (no argmax): the window maximum as the maximum over its rows of each row's
    /// maximum, a horizontal pass into a scratch row per input row, then a vertical one. Values
    /// equal the window loop's (a NaN anywhere in the window gives NaN); 3×3/2 over ResNet's
    /// 112×112 maps ran 5× faster than the window loop.
    private func separableMaximum(_ source: UnsafePointer<Float>, height: Int, width: Int, outputHeight: Int,
                                  outputWidth: Int, into target: UnsafeMutablePointer<Float>) {
        @inline(__always) func larger(_ best: Float, _ value: Float) -> Float {
            value > best || value.isNaN && !best.isNaN ? value : best
        }
        @inline(__always) func larger(_ best: SIMD8<Float>, _ value: SIMD8<Float>) -> SIMD8<Float> {
            best.replacing(with: value, where: (value .> best) .| ((value .!= value) .& (best .== best)))
        }
        let rows = UnsafeMutablePointer<Float>.allocate(capacity: height * outputWidth)
        defer { rows.deallocate() }
        // ResNet's 3×3/2, padding 1: the taps of output ox are 2ox − 1, 2ox, 2ox + 1, eight outputs at a
        // time from the odd and even lanes of two loads of sixteen.
        let resnetWindow = kernelSize == 3 && stride == 2 && padding == 1
        // The columns of output column ox: max(0, ox·s − p) ..< min(W, ox·s − p + k); interior ones need no clamping.
        let interior = ((padding + stride - 1) / stride)..<max((padding + stride - 1) / stride, (width + padding - kernelSize) / stride + 1)
        for iy in 0..<height {
            let input = source + iy * width, output = rows + iy * outputWidth
            var ox = 0
            if resnetWindow && outputWidth > 1 {
                output[0] = larger(input[0], input[1]) // the window's left column is padding
                ox = 1
                while ox + 8 <= outputWidth && 2 * ox + 16 <= width {
                    let left = UnsafeRawPointer(input + 2 * ox - 2).loadUnaligned(as: SIMD16<Float>.self)
                    let right = UnsafeRawPointer(input + 2 * ox).loadUnaligned(as: SIMD16<Float>.self)
                    let best = larger(larger(left.oddHalf, right.evenHalf), right.oddHalf)
                    UnsafeMutableRawPointer(output + ox).storeBytes(of: best, as: SIMD8<Float>.self)
                    ox += 8
                }
            }
            for ox in ox..<outputWidth {
                let first = ox * stride - padding
                if interior.contains(ox) {
                    var best = input[first]
                    for kx in 1..<kernelSize { best = larger(best, input[first + kx]) }
                    output[ox] = best
                } else {
                    let columns = max(0, first)..<min(width, first + kernelSize)
                    var best = input[columns.lowerBound]
                    for ix in columns.dropFirst() { best = larger(best, input[ix]) }
                    output[ox] = best
                }
            }
        }
        for oy in 0..<outputHeight {
            let window = max(0, oy * stride - padding)..<min(height, oy * stride - padding + kernelSize)
            let output = target + oy * outputWidth
            output.update(from: rows + window.lowerBound * outputWidth, count: outputWidth)
            for iy in window.dropFirst() {
                let row = rows + iy * outputWidth
                var ox = 0
                while ox + 8 <= outputWidth {
                    let best = larger(UnsafeRawPointer(output + ox).loadUnaligned(as: SIMD8<Float>.self),
                                      UnsafeRawPointer(row + ox).loadUnaligned(as: SIMD8<Float>.self))
                    UnsafeMutableRawPointer(output + ox).storeBytes(of: best, as: SIMD8<Float>.self)
                    ox += 8
                }
                for ox in ox..<outputWidth { output[ox] = larger(output[ox], row[ox]) }
            }
        }
    }

    /// The encoder's 2×2 windows, unrolled: the same comparisons in the same order as
    /// the general loop (first maximum wins, NaN propagates), with branch-free selects.
    @inline(__always)
    static func pool2x2(_ source: UnsafePointer<Float>, width: Int, outputHeight: Int, outputWidth: Int,
                        into target: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>?) {
        @inline(__always) func better(_ value: Float, than best: Float) -> Bool {
            value > best || value.isNaN && !best.isNaN
        }
        for oy in 0..<outputHeight {
            let top = source + 2 * oy * width, bottom = top + width
            var first = 0
            // Sixteen windows at a time; the rest of the row below.
            while first + 16 <= outputWidth {
                pool2x2Sixteen(top: top + 2 * first, bottom: bottom + 2 * first, width: width,
                               firstIndex: Int32(2 * oy * width + 2 * first),
                               into: target + oy * outputWidth + first,
                               argmax: argmax.map { $0 + oy * outputWidth + first })
                first += 16
            }
            for ox in first..<outputWidth {
                var bestValue = top[2 * ox], best = 0
                let candidates = (top[2 * ox + 1], bottom[2 * ox], bottom[2 * ox + 1])
                if better(candidates.0, than: bestValue) { bestValue = candidates.0; best = 1 }
                if better(candidates.1, than: bestValue) { bestValue = candidates.1; best = width }
                if better(candidates.2, than: bestValue) { bestValue = candidates.2; best = width + 1 }
                target[oy * outputWidth + ox] = bestValue
                argmax?[oy * outputWidth + ox] = Int32(2 * oy * width + 2 * ox + best)
            }
        }
    }

    /// Sixteen adjacent 2×2 windows with SIMD vectors: the candidates in the general loop's
    /// order, each replacing the best so far where it compares greater or is the first NaN.
    @inline(never) // (an out-of-line SIMD body; see BatchNorm2d.writeInputGradient)
    static func pool2x2Sixteen(top: UnsafePointer<Float>, bottom: UnsafePointer<Float>, width: Int, firstIndex: Int32,
                               into target: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>?) {
        let upper = UnsafeRawPointer(top).loadUnaligned(as: SIMD32<Float>.self)
        let lower = UnsafeRawPointer(bottom).loadUnaligned(as: SIMD32<Float>.self)
        var best = upper.evenHalf
        // Offsets within the window as floats (exact), so that one mask type serves both.
        var offset = SIMD16<Float>()
        @inline(__always) func consider(_ candidate: SIMD16<Float>, at candidateOffset: Float) {
            let isBetter = (candidate .> best) .| ((candidate .!= candidate) .& (best .== best))
            best = best.replacing(with: candidate, where: isBetter)
            offset = offset.replacing(with: candidateOffset, where: isBetter)
        }
        consider(upper.oddHalf, at: 1)
        consider(lower.evenHalf, at: Float(width))
        consider(lower.oddHalf, at: Float(width + 1))
        UnsafeMutableRawPointer(target).storeBytes(of: best, as: SIMD16<Float>.self)
        if let argmax {
            let columns = SIMD16<Int32>(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
            let indices = SIMD16<Int32>(repeating: firstIndex) &+ columns &+ SIMD16<Int32>(offset, rounding: .towardZero)
            UnsafeMutableRawPointer(argmax).storeBytes(of: indices, as: SIMD16<Int32>.self)
        }
    }

    /// dx is zero except at each window's maximum, which receives that window's dy.
    public func backward(_ outputGradient: Tensor, cache: Cache) -> Tensor {
        let shape = outputShape(cache.inputShape)
        precondition(outputGradient.shape == shape, "MaxPool2d backward: gradient \(outputGradient.shape), output \(shape)")
        let planeSize = cache.inputShape[2] * cache.inputShape[3]
        let outputPlaneSize = shape[2] * shape[3]
        let planes = shape[0] * shape[1]
        let inputGradient = Tensor(overwriting: cache.inputShape, with: { dx in
            outputGradient.withUnsafeBufferPointer { dy in
                cache.argmax.withUnsafeBufferPointer { argmax in
                    // Each task clears and fills whole planes of its own.
                    let chunk = max(1, (1 << 16) / planeSize)
                    Parallel.forEach((planes + chunk - 1) / chunk) { task in
                        for plane in (task * chunk)..<min(planes, (task + 1) * chunk) {
                            let target = dx.baseAddress! + plane * planeSize
                            target.update(repeating: 0, count: planeSize)
                            for index in (plane * outputPlaneSize)..<((plane + 1) * outputPlaneSize) {
                                target[Int(argmax[index])] += dy[index]
                            }
                        }
                    }
                }
            }
        })
        return inputGradient
    }
}

/// Average pooling to a fixed g × g grid (PyTorch `nn.AdaptiveAvgPool2d(g)`):
/// [B, C, H, W] → [B, C, g, g]. Output row i averages input rows ⌊i·H/g⌋ ..< ⌈(i+1)·H/g⌉
/// (columns likewise), so windows overlap when g does not divide H; g = H is the identity.
/// ResNet encoders use it to give any input size the grid the decoder attends over.
public struct AdaptiveAvgPool2d: Sendable {
    /// g
    public let outputSize: Int

    public init(outputSize: Int) {
        precondition(outputSize >= 1, "AdaptiveAvgPool2d needs a positive output size")
        self.outputSize = outputSize
    }

    /// The input rows (or columns) output cell `index` averages, of `inputSize`.
    func window(_ index: Int, inputSize: Int) -> Range<Int> {
        (index * inputSize / outputSize)..<(((index + 1) * inputSize + outputSize - 1) / outputSize)
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        precondition(input.rank == 4 && input.shape[2] >= 1 && input.shape[3] >= 1,
                     "AdaptiveAvgPool2d needs [B, C, H, W], got \(input.shape)")
        let (height, width, side) = (input.shape[2], input.shape[3], outputSize)
        if height == side && width == side { return input }
        let planes = input.shape[0] * input.shape[1]
        return Tensor(overwriting: [input.shape[0], input.shape[1], side, side]) { output in
            input.withUnsafeBufferPointer { input in
                for plane in 0..<planes {
                    let source = input.baseAddress! + plane * height * width
                    for oy in 0..<side {
                        let rows = window(oy, inputSize: height)
                        for ox in 0..<side {
                            let columns = window(ox, inputSize: width)
                            var sum: Float = 0
                            for iy in rows { for ix in columns { sum += source[iy * width + ix] } }
                            output[(plane * side + oy) * side + ox] = sum / Float(rows.count * columns.count)
                        }
                    }
                }
            }
        }
    }

    /// dL/dinput [B, C, H, W]: each output's gradient shared equally over its window.
    public func backward(_ outputGradient: Tensor, inputShape: [Int]) -> Tensor {
        let (height, width, side) = (inputShape[2], inputShape[3], outputSize)
        precondition(outputGradient.shape == [inputShape[0], inputShape[1], side, side],
                     "AdaptiveAvgPool2d backward: gradient \(outputGradient.shape) for input \(inputShape)")
        if height == side && width == side { return outputGradient }
        let planes = inputShape[0] * inputShape[1]
        return Tensor(shape: inputShape) { inputGradient in
            outputGradient.withUnsafeBufferPointer { outputGradient in
                for plane in 0..<planes {
                    let target = inputGradient.baseAddress! + plane * height * width
                    for oy in 0..<side {
                        let rows = window(oy, inputSize: height)
                        for ox in 0..<side {
                            let columns = window(ox, inputSize: width)
                            let share = outputGradient[(plane * side + oy) * side + ox] / Float(rows.count * columns.count)
                            for iy in rows { for ix in columns { target[iy * width + ix] += share } }
                        }
                    }
                }
            }
        }
    }
}
