/// Image resizing with a triangle (bilinear) filter whose support widens with the
/// shrink factor, so shrinking averages every source pixel (antialiasing) instead of
/// sampling a few of them.
///
/// The arithmetic follows Pillow's `Image.resize(size, Image.BILINEAR)` step for
/// step (separable passes, horizontal first, 22-bit fixed-point weights, rounding
/// to 8 bits between the passes), so Glimpse and a Pillow/torchvision pipeline
/// feed a model the same pixels. The tests compare against Pillow's output.
public enum Resampler {
    /// `image` resized to `width` x `height`.
    public static func resize(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        precondition(width > 0 && height > 0, "resize target must have pixels")
        if width == image.width && height == image.height { return image }
        var current = image
        if width != image.width {
            current = horizontalPass(current, outputWidth: width)
        }
        if height != image.height {
            current = verticalPass(current, outputHeight: height)
        }
        return current
    }

    static let precisionBits = 22

    /// Filter taps for one axis: output `i` reads `count[i]` input samples starting
    /// at `start[i]`, weighted by `weights[i * tapStride ..< i * tapStride + count[i]]`.
    struct Taps {
        var start: [Int]
        var count: [Int]
        var weights: [Int32]
        var tapStride: Int
    }

    static func taps(inputSize: Int, outputSize: Int) -> Taps {
        let scale = Double(inputSize) / Double(outputSize)
        let filterScale = max(scale, 1.0)
        let support = 1.0 * filterScale  // the triangle filter's support is 1
        let tapStride = Int(support.rounded(.up)) * 2 + 1
        var start = [Int](repeating: 0, count: outputSize)
        var count = [Int](repeating: 0, count: outputSize)
        var weights = [Int32](repeating: 0, count: outputSize * tapStride)
        var raw = [Double](repeating: 0, count: tapStride)
        let inverseScale = 1.0 / filterScale  // multiplied, not divided, to match Pillow bit for bit
        for output in 0..<outputSize {
            let center = (Double(output) + 0.5) * scale
            var first = Int(center - support + 0.5)   // truncation, as C's (int) cast
            if first < 0 { first = 0 }
            var end = Int(center + support + 0.5)
            if end > inputSize { end = inputSize }
            let taken = end - first
            var total = 0.0
            for tap in 0..<taken {
                let distance = abs((Double(tap + first) - center + 0.5) * inverseScale)
                let weight = distance < 1.0 ? 1.0 - distance : 0.0
                raw[tap] = weight
                total += weight
            }
            for tap in 0..<taken {
                let normalized = total != 0 ? raw[tap] / total : raw[tap]
                let fixed = normalized < 0
                    ? Int32(-0.5 + normalized * Double(1 << precisionBits))
                    : Int32(0.5 + normalized * Double(1 << precisionBits))
                weights[output * tapStride + tap] = fixed
            }
            start[output] = first
            count[output] = max(taken, 0)
        }
        return Taps(start: start, count: count, weights: weights, tapStride: tapStride)
    }

    @inline(__always)
    static func clampToByte(_ accumulator: Int) -> UInt8 {
        let shifted = accumulator >> precisionBits
        return UInt8(clamping: shifted)
    }

    static func horizontalPass(_ image: RGBImage, outputWidth: Int) -> RGBImage {
        let plan = taps(inputSize: image.width, outputSize: outputWidth)
        let height = image.height, inputWidth = image.width
        let rounding = 1 << (precisionBits - 1)
        let output = [UInt8](unsafeUninitializedCapacity: outputWidth * height * 3) { out, initialized in
            image.pixels.withUnsafeBufferPointer { input in
                plan.weights.withUnsafeBufferPointer { weights in
                    for y in 0..<height {
                        let row = y * inputWidth * 3
                        for x in 0..<outputWidth {
                            let first = plan.start[x], taken = plan.count[x], base = x * plan.tapStride
                            var red = rounding, green = rounding, blue = rounding
                            for tap in 0..<taken {
                                let weight = Int(weights[base + tap])
                                let at = row + (first + tap) * 3
                                red += Int(input[at]) * weight
                                green += Int(input[at + 1]) * weight
                                blue += Int(input[at + 2]) * weight
                            }
                            let to = (y * outputWidth + x) * 3
                            out[to] = clampToByte(red)
                            out[to + 1] = clampToByte(green)
                            out[to + 2] = clampToByte(blue)
                        }
                    }
                }
            }
            initialized = outputWidth * height * 3
        }
        return RGBImage(width: outputWidth, height: height, pixels: output)
    }

    static func verticalPass(_ image: RGBImage, outputHeight: Int) -> RGBImage {
        let plan = taps(inputSize: image.height, outputSize: outputHeight)
        let width = image.width
        let rowLength = width * 3
        let rounding = 1 << (precisionBits - 1)
        var accumulators = [Int](repeating: 0, count: rowLength)
        let output = [UInt8](unsafeUninitializedCapacity: outputHeight * rowLength) { out, initialized in
            image.pixels.withUnsafeBufferPointer { input in
                accumulators.withUnsafeMutableBufferPointer { sums in
                    for y in 0..<outputHeight {
                        let first = plan.start[y], taken = plan.count[y], base = y * plan.tapStride
                        for index in 0..<rowLength { sums[index] = rounding }
                        // Row by row keeps the inner loop contiguous (and vectorisable).
                        for tap in 0..<taken {
                            let weight = Int(plan.weights[base + tap])
                            let row = (first + tap) * rowLength
                            for index in 0..<rowLength {
                                sums[index] += Int(input[row + index]) * weight
                            }
                        }
                        let to = y * rowLength
                        for index in 0..<rowLength { out[to + index] = clampToByte(sums[index]) }
                    }
                }
            }
            initialized = outputHeight * rowLength
        }
        return RGBImage(width: width, height: outputHeight, pixels: output)
    }
}
