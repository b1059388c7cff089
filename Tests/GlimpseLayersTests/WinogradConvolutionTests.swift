import CGlimpseKernels
@testable import GlimpseLayers
import GlimpseTensor
import GlimpseTestSupport
import Testing

/// The definition of a 3x3 stride-1 padding-1 convolution in Double, with, for every output,
/// the sum of the magnitudes of its terms (Σ |x·w| + |bias|): float32 rounding error is bounded
/// by a multiple of 2⁻²⁴ times that sum, so it scales the tolerance element by element.
private func definition(_ input: Tensor, weight: Tensor, bias: Tensor?) -> (value: [Double], magnitude: [Double]) {
    let (batch, channels, height, width) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
    let outputs = weight.shape[0]
    var value = [Double](repeating: 0, count: batch * outputs * height * width)
    var magnitude = value
    input.withUnsafeBufferPointer { x in
        weight.withUnsafeBufferPointer { w in
            for b in 0..<batch {
                for o in 0..<outputs {
                    for oy in 0..<height {
                        for ox in 0..<width {
                            var total = Double(bias?[o] ?? 0), size = abs(total)
                            for c in 0..<channels {
                                for ky in 0..<3 {
                                    let iy = oy - 1 + ky
                                    guard iy >= 0 && iy < height else { continue }
                                    for kx in 0..<3 {
                                        let ix = ox - 1 + kx
                                        guard ix >= 0 && ix < width else { continue }
                                        let term = Double(x[((b * channels + c) * height + iy) * width + ix])
                                            * Double(w[((o * channels + c) * 3 + ky) * 3 + kx])
                                        total += term
                                        size += abs(term)
                                    }
                                }
                            }
                            let index = ((b * outputs + o) * height + oy) * width + ox
                            value[index] = total
                            magnitude[index] = size
                        }
                    }
                }
            }
        }
    }
    return (value, magnitude)
}

/// dX by the definition: dX[b, c, iy, ix] = Σ dY[b, o, oy, ox] · W[o, c, iy − oy + 1, ix − ox + 1].
private func inputGradientDefinition(_ upstream: Tensor, weight: Tensor) -> (value: [Double], magnitude: [Double]) {
    let (batch, outputs, height, width) = (upstream.shape[0], upstream.shape[1], upstream.shape[2], upstream.shape[3])
    let channels = weight.shape[1]
    var value = [Double](repeating: 0, count: batch * channels * height * width)
    var magnitude = value
    upstream.withUnsafeBufferPointer { dy in
        weight.withUnsafeBufferPointer { w in
            for b in 0..<batch {
                for c in 0..<channels {
                    for iy in 0..<height {
                        for ix in 0..<width {
                            var total = 0.0, size = 0.0
                            for o in 0..<outputs {
                                for ky in 0..<3 {
                                    let oy = iy + 1 - ky
                                    guard oy >= 0 && oy < height else { continue }
                                    for kx in 0..<3 {
                                        let ox = ix + 1 - kx
                                        guard ox >= 0 && ox < width else { continue }
                                        let term = Double(dy[((b * outputs + o) * height + oy) * width + ox])
                                            * Double(w[((o * channels + c) * 3 + ky) * 3 + kx])
                                        total += term
                                        size += abs(term)
                                    }
                                }
                            }
                            let index = ((b * channels + c) * height + iy) * width + ix
                            value[index] = total
                            magnitude[index] = size
                        }
                    }
                }
            }
        }
    }
    return (value, magnitude)
}

/// dW by the definition: dW[o, c, ky, kx] = Σ dY[b, o, oy, ox] · x[b, c, oy − 1 + ky, ox − 1 + kx].
private func weightGradientDefinition(_ input: Tensor, _ upstream: Tensor) -> (value: [Double], magnitude: [Double]) {
    let (batch, channels, height, width) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
    let outputs = upstream.shape[1]
    var value = [Double](repeating: 0, count: outputs * channels * 9)
    var magnitude = value
    input.withUnsafeBufferPointer { x in
        upstream.withUnsafeBufferPointer { dy in
            for o in 0..<outputs {
                for c in 0..<channels {
                    for ky in 0..<3 {
                        for kx in 0..<3 {
                            var total = 0.0, size = 0.0
                            for b in 0..<batch {
                                for oy in 0..<height {
                                    let iy = oy - 1 + ky
                                    guard iy >= 0 && iy < height else { continue }
                                    for ox in 0..<width {
                                        let ix = ox - 1 + kx
                                        guard ix >= 0 && ix < width else { continue }
                                        let term = Double(dy[((b * outputs + o) * height + oy) * width + ox])
                                            * Double(x[((b * channels + c) * height + iy) * width + ix])
                                        total += term
                                        size += abs(term)
                                    }
                                }
                            }
                            let index = ((o * channels + c) * 3 + ky) * 3 + kx
                            value[index] = total
                            magnitude[index] = size
                        }
                    }
                }
            }
        }
    }
    return (value, magnitude)
}

/// Records an issue unless |actual − exact| ≤ factor · 2⁻²⁴ · S for every element, where S is the
/// largest Σ|terms| over the tensor. The bound is normwise, not element by element, because
/// Winograd's error is: its transformed values mix neighbouring terms, and an output whose own
/// terms nearly vanish (a border tap of the weight gradient on a one-row image) still carries
/// the rounding of those that cancel. Returns the largest |actual − exact| / (2⁻²⁴ · S).
@discardableResult
private func expectWithinRounding(_ actual: Tensor, _ exact: (value: [Double], magnitude: [Double]), factor: Double,
                                  _ name: String, sourceLocation: SourceLocation = #_sourceLocation) -> Double {
    let scale = 0x1p-24 * max(exact.magnitude.max() ?? 0, .leastNormalMagnitude)
    var worstRatio = 0.0, worstIndex = 0, worstRelative = 0.0
    actual.withUnsafeBufferPointer { actual in
        #expect(actual.count == exact.value.count, sourceLocation: sourceLocation)
        for index in 0..<min(actual.count, exact.value.count) {
            let error = abs(Double(actual[index]) - exact.value[index])
            let ratio = error.isNaN ? .infinity : error / scale
            if ratio > worstRatio { (worstRatio, worstIndex) = (ratio, index) }
            if exact.value[index] != 0 { worstRelative = max(worstRelative, error / abs(exact.value[index])) }
        }
        if worstRatio > factor {
            Issue.record("""
                \(name): error \(worstRatio) × 2⁻²⁴ × max Σ|terms| (allowed \(factor)) at flat index \(worstIndex): \
                actual \(actual[worstIndex]), exact \(exact.value[worstIndex]), its Σ|terms| \(exact.magnitude[worstIndex]), \
                max Σ|terms| \(scale / 0x1p-24); max relative error over all elements \(worstRelative)
                """, sourceLocation: sourceLocation)
        }
    }
    return worstRatio
}

/// Serialized: `narrowerVectorCode` narrows the kernels' vectors for the whole process while it
/// runs, and `forward` checks that two calls agree bit for bit, which they need not across
/// vector widths (once in five runs of the suite, CI and here, when the two overlapped).
@Suite("Conv2d Winograd F(2x2, 3x3) and F(4x4, 3x3)", .serialized)
struct WinogradConvolutionTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var batch, channels, outputs, height, width, tile, tilesPerProduct: Int
        var hasBias = false
        var testDescription: String {
            "F(\(tile)) B\(batch) \(channels)->\(outputs) \(height)x\(width), \(tilesPerProduct) tiles per product\(hasBias ? ", bias" : "")"
        }
    }

    // Sides not multiples of the tile (partial edge tiles in both directions), channel counts
    // not multiples of 8, batches of 1 and 3; units of 3 tiles cut tile rows across images and
    // leave a short last unit, units of 10 000 put the whole batch in one product.
    static let cases: [Case] = [2, 4].flatMap { tile in
        [
            Case(batch: 1, channels: 11, outputs: 13, height: 7, width: 9, tile: tile, tilesPerProduct: 10_000, hasBias: true),
            Case(batch: 3, channels: 9, outputs: 5, height: 10, width: 6, tile: tile, tilesPerProduct: 3),
            Case(batch: 3, channels: 17, outputs: 10, height: 5, width: 13, tile: tile, tilesPerProduct: 10_000),
            Case(batch: 1, channels: 8, outputs: 3, height: 1, width: 2, tile: tile, tilesPerProduct: 3, hasBias: true),
            Case(batch: 3, channels: 12, outputs: 19, height: 11, width: 11, tile: tile, tilesPerProduct: 7),
        ]
    }

    /// Error allowances in units of 2⁻²⁴ · max Σ|terms|. A direct float32 sum of K terms is within
    /// about K · 2⁻²⁴ · Σ|terms| in the worst case (K = 9·C ≤ 171 here) and typically within a few
    /// units; the transforms add rounding on values scaled by their coefficients (up to 8 in
    /// F(4x4)'s Aᵀ, 5 in its Bᵀ, 1/6 and 1/24 in G). Observed worst ratios over these cases (AVX-512,
    /// Zen 4): F(2x2) 2.8, F(4x4) 20 (forward 20, input gradient 17, weight gradient 11); the
    /// allowances leave about 3x headroom.
    static func allowance(tile: Int) -> Double { tile == 4 ? 64 : 8 }

    static func layer(_ testCase: Case, seed: UInt64) -> (Conv2d, Tensor, Tensor) {
        var generator = SeededGenerator(seed: seed)
        let layer = Conv2d(inputChannels: testCase.channels, outputChannels: testCase.outputs,
                           hasBias: testCase.hasBias, using: &generator)
        let input = Tensor(randomNormal: [testCase.batch, testCase.channels, testCase.height, testCase.width],
                           using: &generator)
        let upstream = Tensor(randomNormal: [testCase.batch, testCase.outputs, testCase.height, testCase.width],
                              using: &generator)
        return (layer, input, upstream)
    }

    @Test("forward agrees with the definition, with either product kernel",
          arguments: cases + [Case(batch: 2, channels: 33, outputs: 35, height: 9, width: 14, tile: 4, tilesPerProduct: 20)],
          [Conv2d.WinogradProducts.packed, .sgemm])
    func forward(testCase: Case, products: Conv2d.WinogradProducts) {
        // Outputs 3 to 35 leave the last 16-wide panel of the packed kernel partly empty; units
        // of 3 to 10 000 tiles leave 0 to 5 rows after its 6-row blocks.
        let (layer, input, _) = Self.layer(testCase, seed: 40)
        let weights = WinogradWeights(layer, tile: testCase.tile, kernel: products)
        let output = layer.forwardWinograd(input, tile: testCase.tile, tilesPerProduct: testCase.tilesPerProduct,
                                           weights: weights)
        #expect(output.shape == [testCase.batch, testCase.outputs, testCase.height, testCase.width])
        expectWithinRounding(output, definition(input, weight: layer.weight, bias: layer.bias),
                             factor: Self.allowance(tile: testCase.tile), "output")
        // The same weights again: the same result, bit for bit (nothing in them is consumed).
        #expect(layer.forwardWinograd(input, tile: testCase.tile, tilesPerProduct: testCase.tilesPerProduct,
                                      weights: weights) == output)
    }

    @Test("weights transformed straight into the packed layout equal transformed, then packed, bit for bit",
          arguments: [2, 4])
    func packedWeights(tile: Int) {
        var generator = SeededGenerator(seed: 48)
        let (outputs, channels) = (21, 10)
        let weight = Tensor(randomNormal: [outputs, channels, 3, 3], using: &generator)
        let positions = (tile + 2) * (tile + 2)
        var transformed = [Float](repeating: 0, count: positions * channels * outputs)
        var scratch = [Float](repeating: 0, count: glimpse_winograd_weight_scratch_count(Int32(tile), Int32(outputs),
                                                                                           Int32(channels)))
        let packedCount = glimpse_winograd_packed_weights_count(Int32(tile), Int32(outputs), Int32(channels))
        #expect(packedCount == positions * channels * 32) // two panels of 16, the second 11 wide
        var packed = [Float](repeating: .nan, count: packedCount)
        var direct = [Float](repeating: .nan, count: packedCount)
        var packingScratch = [Float](repeating: 0, count: glimpse_winograd_packed_weights_scratch_count(
            Int32(tile), Int32(outputs), Int32(channels)))
        weight.withUnsafeBufferPointer { weight in
            glimpse_winograd_transform_weights(Int32(tile), weight.baseAddress!, Int32(outputs), Int32(channels),
                                               &transformed, &scratch)
            glimpse_winograd_pack_weights(Int32(tile), transformed, Int32(outputs), Int32(channels), &packed)
            // In two parts (channels 0..<3 and 3..<10), as the workers split it.
            glimpse_winograd_transform_weights_packed(Int32(tile), weight.baseAddress!, Int32(outputs), Int32(channels),
                                                      0, 3, nil, &direct, &packingScratch)
            glimpse_winograd_transform_weights_packed(Int32(tile), weight.baseAddress!, Int32(outputs), Int32(channels),
                                                      3, 7, nil, &direct, &packingScratch)
        }
        #expect(direct.elementsEqual(packed) { $0.bitPattern == $1.bitPattern })
        // With a scale per output channel: each packed value times its channel's scale, exactly.
        let scale = (0..<outputs).map { Float($0 + 1) * 0.25 }
        var scaled = [Float](repeating: .nan, count: packedCount)
        weight.withUnsafeBufferPointer { weight in
            glimpse_winograd_transform_weights_packed(Int32(tile), weight.baseAddress!, Int32(outputs), Int32(channels),
                                                      0, Int32(channels), scale, &scaled, &packingScratch)
        }
        for index in 0..<packedCount {
            let output = (index / (channels * 16)) % 2 * 16 + index % 16 // panel · 16 + lane
            let expected = output < outputs ? packed[index] * scale[output] : 0
            if scaled[index].bitPattern != expected.bitPattern {
                Issue.record("scaled packed weight \(index): \(scaled[index]), expected \(expected)")
                break
            }
        }
        // The padding of the last panel is zeros: position 0, channel 0, outputs 21..<32.
        #expect(direct[(1 * channels + 0) * 16 + 5 ..< (1 * channels + 0) * 16 + 16].allSatisfy { $0 == 0 })
    }

    @Test("the packed product kernel's sums do not depend on how the tiles are split into units")
    func packedProductsIndependentOfUnits() {
        let testCase = Case(batch: 3, channels: 20, outputs: 21, height: 13, width: 10, tile: 4, tilesPerProduct: 1)
        let (layer, input, _) = Self.layer(testCase, seed: 47)
        let weights = WinogradWeights(layer, tile: 4, kernel: .packed)
        let outputs = [1, 7, 13, 10_000].map {
            layer.forwardWinograd(input, tile: 4, tilesPerProduct: $0, weights: weights)
        }
        for output in outputs.dropFirst() { #expect(output == outputs[0]) }
    }

    @Test("input gradient (the forward of the flipped, transposed kernel) agrees with the definition", arguments: cases)
    func inputGradient(testCase: Case) {
        let (layer, _, upstream) = Self.layer(testCase, seed: 41)
        let transposed = layer.transposedForInputGradient()
        #expect(transposed.isWinogradShape == (testCase.outputs >= 8))
        let inputGradient = transposed.forwardWinograd(upstream, tile: testCase.tile,
                                                       tilesPerProduct: testCase.tilesPerProduct)
        expectWithinRounding(inputGradient, inputGradientDefinition(upstream, weight: layer.weight),
                             factor: Self.allowance(tile: testCase.tile), "input gradient")
    }

    @Test("weight gradient accumulates the definition's dW", arguments: cases)
    func weightGradient(testCase: Case) {
        let (layer, input, upstream) = Self.layer(testCase, seed: 42)
        var generator = SeededGenerator(seed: 43)
        let earlier = Tensor(randomNormal: layer.weight.shape, using: &generator)
        var gradients = layer.zeroGradients()
        gradients.weight = earlier
        layer.backwardWeightsWinograd(upstream, cache: Conv2d.Cache(input: input), into: &gradients,
                                      tile: testCase.tile, tilesPerProduct: testCase.tilesPerProduct)
        var (value, magnitude) = weightGradientDefinition(input, upstream)
        earlier.withUnsafeBufferPointer { earlier in
            for index in value.indices {
                value[index] += Double(earlier[index])
                magnitude[index] += abs(Double(earlier[index]))
            }
        }
        expectWithinRounding(gradients.weight, (value, magnitude), factor: Self.allowance(tile: testCase.tile),
                             "weight gradient")
        if testCase.hasBias {
            assertClose(gradients.bias!, upstream.sum(alongAxes: [0, 2, 3]), absoluteTolerance: 1e-5, name: "bias gradient")
        }
    }

    @Test("the layer routes eligible shapes to Winograd: forward, backward (dX and dW) agree with the definition")
    func routedThroughLayer() {
        // 2 × 16 × 33 = 1056 output pixels: over the 1024 below which shapes keep im2col.
        let testCase = Case(batch: 2, channels: 16, outputs: 12, height: 16, width: 33, tile: 4, tilesPerProduct: 256)
        let (layer, input, upstream) = Self.layer(testCase, seed: 44)
        #expect(layer.isWinogradShape)
        #expect(Conv2d.winogradTileOverride != nil || layer.winogradForwardTile(for: input) == (Conv2d.winogradEnabled ? 4 : nil))
        let (output, cache) = layer.forward(input)
        var gradients = layer.zeroGradients()
        let inputGradient = layer.backward(upstream, cache: cache, into: &gradients)
        let allowance = Self.allowance(tile: 4)
        expectWithinRounding(output, definition(input, weight: layer.weight, bias: nil), factor: allowance, "output")
        expectWithinRounding(inputGradient, inputGradientDefinition(upstream, weight: layer.weight), factor: allowance,
                             "input gradient")
        expectWithinRounding(gradients.weight, weightGradientDefinition(input, upstream), factor: allowance,
                             "weight gradient")
    }

    @Test("the AVX2 and baseline transforms and products agree with the definition too", arguments: [256, 128])
    func narrowerVectorCode(bits: Int) {
        // Other tests may run meanwhile on the narrower code: it must be as correct.
        let limited = Int(glimpse_winograd_limit_vector_bits(Int32(bits)))
        defer { glimpse_winograd_limit_vector_bits(0) }
        #expect(limited <= bits)
        for testCase in [Case(batch: 3, channels: 12, outputs: 19, height: 11, width: 11, tile: 4, tilesPerProduct: 7, hasBias: true),
                         Case(batch: 1, channels: 17, outputs: 9, height: 10, width: 13, tile: 2, tilesPerProduct: 5)] {
            let (layer, input, upstream) = Self.layer(testCase, seed: 46)
            let allowance = Self.allowance(tile: testCase.tile)
            for products in [Conv2d.WinogradProducts.packed, .sgemm] {
                // Packed products on the baseline: the plain C sums.
                let weights = WinogradWeights(layer, tile: testCase.tile, kernel: products)
                expectWithinRounding(layer.forwardWinograd(input, tile: testCase.tile, tilesPerProduct: testCase.tilesPerProduct,
                                                           weights: weights),
                                     definition(input, weight: layer.weight, bias: layer.bias), factor: allowance, "output")
            }
            var gradients = layer.zeroGradients()
            layer.backwardWeightsWinograd(upstream, cache: Conv2d.Cache(input: input), into: &gradients,
                                          tile: testCase.tile, tilesPerProduct: testCase.tilesPerProduct)
            expectWithinRounding(gradients.weight, weightGradientDefinition(input, upstream), factor: allowance,
                                 "weight gradient")
        }
    }

    @Test("shapes Winograd does not cover: the first layer, strides, other kernels and paddings")
    func eligibility() {
        var generator = SeededGenerator(seed: 45)
        #expect(!Conv2d(inputChannels: 3, outputChannels: 32, using: &generator).isWinogradShape)
        #expect(!Conv2d(inputChannels: 32, outputChannels: 32, stride: 2, using: &generator).isWinogradShape)
        #expect(!Conv2d(inputChannels: 32, outputChannels: 32, kernelSize: 5, padding: 2, using: &generator).isWinogradShape)
        #expect(!Conv2d(inputChannels: 32, outputChannels: 32, padding: 0, using: &generator).isWinogradShape)
        #expect(Conv2d(inputChannels: 32, outputChannels: 64, using: &generator).isWinogradShape)
    }
}
