import GlimpseLayers
import GlimpseTensor
import GlimpseTestSupport
import Testing

/// A direct seven-loop convolution, the definition the im2col path must agree with.
func naiveConvolution(_ input: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int) -> Tensor {
    let (batch, channels, height, width) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
    let (outputChannels, kernelHeight, kernelWidth) = (weight.shape[0], weight.shape[2], weight.shape[3])
    let outputHeight = (height + 2 * padding - kernelHeight) / stride + 1
    let outputWidth = (width + 2 * padding - kernelWidth) / stride + 1
    var output = Tensor(zeros: [batch, outputChannels, outputHeight, outputWidth])
    for b in 0..<batch {
        for o in 0..<outputChannels {
            for oy in 0..<outputHeight {
                for ox in 0..<outputWidth {
                    var total = Double(bias?[o] ?? 0)
                    for c in 0..<channels {
                        for ky in 0..<kernelHeight {
                            for kx in 0..<kernelWidth {
                                let iy = oy * stride - padding + ky, ix = ox * stride - padding + kx
                                guard iy >= 0, iy < height, ix >= 0, ix < width else { continue }
                                total += Double(input[b, c, iy, ix]) * Double(weight[o, c, ky, kx])
                            }
                        }
                    }
                    output[b, o, oy, ox] = Float(total)
                }
            }
        }
    }
    return output
}

@Suite("Conv2d")
struct ConvolutionTests {
    struct Configuration: CustomTestStringConvertible, Sendable {
        var kernelSize: Int, stride: Int, padding: Int, hasBias: Bool
        var testDescription: String { "k\(kernelSize) s\(stride) p\(padding)\(hasBias ? " bias" : "")" }
    }

    static let configurations = [
        Configuration(kernelSize: 3, stride: 1, padding: 1, hasBias: false),
        Configuration(kernelSize: 3, stride: 2, padding: 1, hasBias: true),
        Configuration(kernelSize: 1, stride: 1, padding: 0, hasBias: true),
        Configuration(kernelSize: 2, stride: 2, padding: 0, hasBias: false),
        Configuration(kernelSize: 5, stride: 1, padding: 2, hasBias: false),
        Configuration(kernelSize: 3, stride: 1, padding: 0, hasBias: true),
    ]

    @Test("weights-only backward (a first layer's) accumulates the same weight gradient")
    func weightsOnlyBackward() {
        var generator = SeededGenerator(seed: 12)
        let layer = Conv2d(inputChannels: 3, outputChannels: 5, hasBias: true, using: &generator)
        let input = Tensor(randomNormal: [2, 3, 6, 7], using: &generator)
        let upstream = Tensor(randomNormal: [2, 5, 6, 7], using: &generator)
        let cache = layer.forward(input).cache
        var full = layer.zeroGradients(), weightsOnly = layer.zeroGradients()
        _ = layer.backward(upstream, cache: cache, into: &full)
        layer.backwardWeights(upstream, cache: cache, into: &weightsOnly)
        #expect(full.weight == weightsOnly.weight)
        #expect(full.bias == weightsOnly.bias)
    }

    @Test("im2col + sgemm agrees with the direct definition", arguments: configurations)
    func forwardMatchesDefinition(configuration: Configuration) {
        var generator = SeededGenerator(seed: 10)
        let layer = Conv2d(inputChannels: 3, outputChannels: 4, kernelSize: configuration.kernelSize,
                           stride: configuration.stride, padding: configuration.padding,
                           hasBias: configuration.hasBias, using: &generator)
        let input = Tensor(randomNormal: [2, 3, 5, 6], using: &generator)
        assertClose(layer(input), naiveConvolution(input, weight: layer.weight, bias: layer.bias,
                                                    stride: configuration.stride, padding: configuration.padding),
                    absoluteTolerance: 1e-5, name: "output")
    }

    @Test("one image per product on large maps: the 1×1 layer without im2col, and stride 2's even-lane gather",
          arguments: [(1, 1, 0), (7, 2, 3), (3, 2, 1), (1, 2, 0), (4, 2, 1)])
    func largeMapsMatchDefinition(kernelSize: Int, stride: Int, padding: Int) {
        var generator = SeededGenerator(seed: 14)
        let layer = Conv2d(inputChannels: 3, outputChannels: 5, kernelSize: kernelSize, stride: stride, padding: padding,
                           hasBias: true, using: &generator)
        // 40 × 41 (odd width: the gather's tail) gives an image enough pixels for a product of its own.
        let input = Tensor(randomNormal: [2, 3, 40, 41], using: &generator)
        assertClose(layer(input), naiveConvolution(input, weight: layer.weight, bias: layer.bias, stride: stride, padding: padding),
                    absoluteTolerance: 1e-5, name: "k\(kernelSize) s\(stride) p\(padding)")
    }

    @Test("rectangular kernels: forward and gradients")
    func rectangularKernel() {
        var generator = SeededGenerator(seed: 15)
        let layer = Conv2d(weight: Tensor(randomNormal: [2, 3, 2, 3], standardDeviation: 0.3, using: &generator),
                           bias: nil, stride: 1, padding: 1)
        let input = Tensor(randomNormal: [2, 3, 5, 6], using: &generator)
        let (output, cache) = layer.forward(input)
        #expect(output.shape == [2, 2, 6, 6]) // (5 + 2 − 2) + 1 rows, (6 + 2 − 3) + 1 columns
        assertClose(output, naiveConvolution(input, weight: layer.weight, bias: nil, stride: 1, padding: 1),
                    absoluteTolerance: 1e-5, name: "output")
        let lossWeights = Tensor(randomNormal: output.shape, using: &generator)
        var gradients = layer.zeroGradients()
        let inputGradient = layer.backward(lossWeights, cache: cache, into: &gradients)
        let checker = GradientChecker()
        checker.check("input", analytic: inputGradient, at: input) { weightedSum(layer($0), lossWeights) }
        checker.checkParameters(of: layer, gradients: gradients) { weightedSum($0(input), lossWeights) }
    }

    @Test("groups of several images per sgemm give the same output as one image at a time")
    func groupedProducts() {
        // 5x6 outputs are 30 pixels (< minimumColumnsPerProduct), so a batch of 3 is one group of 3.
        var generator = SeededGenerator(seed: 11)
        let layer = Conv2d(inputChannels: 2, outputChannels: 3, hasBias: true, using: &generator)
        let input = Tensor(randomNormal: [3, 2, 5, 6], using: &generator)
        let whole = layer(input)
        for image in 0..<3 {
            assertClose(whole.rows(image..<(image + 1)), layer(input.rows(image..<(image + 1))),
                        absoluteTolerance: 1e-6, name: "image \(image)")
        }
    }

    @Test("3x3 stride 1 padding 1 keeps the spatial size; PyTorch init bound 1/sqrt(C·9)")
    func defaults() {
        var generator = SeededGenerator(seed: 12)
        let layer = Conv2d(inputChannels: 4, outputChannels: 2, using: &generator)
        #expect(layer.bias == nil)
        #expect(layer.weight.shape == [2, 4, 3, 3])
        #expect(layer.weight.maxAbsolute() <= 1 / 6)
        #expect(layer(Tensor(zeros: [1, 4, 5, 6])).shape == [1, 2, 5, 6])
    }

    @Test("gradients of input, weight and bias match central differences", arguments: configurations)
    func gradientCheck(configuration: Configuration) {
        var generator = SeededGenerator(seed: 13)
        let layer = Conv2d(inputChannels: 3, outputChannels: 4, kernelSize: configuration.kernelSize,
                           stride: configuration.stride, padding: configuration.padding,
                           hasBias: configuration.hasBias, using: &generator)
        let input = Tensor(randomNormal: [2, 3, 5, 6], using: &generator)
        let (output, cache) = layer.forward(input)
        let lossWeights = Tensor(randomNormal: output.shape, using: &generator)
        var gradients = layer.zeroGradients()
        let inputGradient = layer.backward(lossWeights, cache: cache, into: &gradients)

        let checker = GradientChecker()
        checker.check("input", analytic: inputGradient, at: input) { weightedSum(layer($0), lossWeights) }
        checker.checkParameters(of: layer, gradients: gradients) { weightedSum($0(input), lossWeights) }
    }

    @Test("one image per product and several per product give the same gradients")
    func groupedBackward() {
        var generator = SeededGenerator(seed: 14)
        let layer = Conv2d(inputChannels: 2, outputChannels: 3, hasBias: true, using: &generator)
        let input = Tensor(randomNormal: [3, 2, 5, 6], using: &generator) // one group of three
        let outputGradient = Tensor(randomNormal: [3, 3, 5, 6], using: &generator)
        var grouped = layer.zeroGradients()
        let groupedInputGradient = layer.backward(outputGradient, cache: layer.forward(input).cache, into: &grouped)

        var single = layer.zeroGradients()
        for image in 0..<3 {
            let range = image..<(image + 1)
            let imageInputGradient = layer.backward(outputGradient.rows(range), cache: layer.forward(input.rows(range)).cache,
                                                    into: &single)
            assertClose(groupedInputGradient.rows(range), imageInputGradient, absoluteTolerance: 1e-6,
                        name: "input gradient of image \(image)")
        }
        assertClose(grouped.weight, single.weight, absoluteTolerance: 1e-5, name: "weight gradient")
        assertClose(grouped.bias!, single.bias!, absoluteTolerance: 1e-5, name: "bias gradient")
    }

    @Test("Conv2d on a large image, computed in tiles of output rows, matches the direct sums")
    func tiledLargeImage() {
        var generator = SeededGenerator(seed: 77)
        // 4 channels at 128x128: the im2col columns (36 x 16384) exceed twice the tile
        // budget, so forward and the weight gradient run in tiles (the last one partial).
        let (channels, outputs, side) = (4, 2, 128)
        let layer = Conv2d(inputChannels: channels, outputChannels: outputs, using: &generator)
        let input = Tensor(randomNormal: [1, channels, side, side], using: &generator)
        let upstream = Tensor(randomNormal: [1, outputs, side, side], using: &generator)
        let (output, cache) = layer.forward(input)
        var gradients = layer.zeroGradients()
        layer.backwardWeights(upstream, cache: cache, into: &gradients)
        var expectedOutput = [Double](repeating: 0, count: outputs * side * side)
        var expectedWeight = [Double](repeating: 0, count: outputs * channels * 9)
        input.withUnsafeBufferPointer { x in
            upstream.withUnsafeBufferPointer { dy in
                layer.weight.withUnsafeBufferPointer { w in
                    for o in 0..<outputs {
                        for c in 0..<channels {
                            for ky in 0..<3 {
                                for kx in 0..<3 {
                                    let weightIndex = ((o * channels + c) * 3 + ky) * 3 + kx
                                    for oy in 0..<side {
                                        let iy = oy + ky - 1
                                        guard iy >= 0 && iy < side else { continue }
                                        for ox in 0..<side {
                                            let ix = ox + kx - 1
                                            guard ix >= 0 && ix < side else { continue }
                                            let value = Double(x[(c * side + iy) * side + ix])
                                            expectedOutput[(o * side + oy) * side + ox] += Double(w[weightIndex]) * value
                                            expectedWeight[weightIndex] += Double(dy[(o * side + oy) * side + ox]) * value
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        assertClose(output, Tensor(shape: output.shape, scalars: expectedOutput.map { Float($0) }),
                    absoluteTolerance: 1e-4, relativeTolerance: 1e-4)
        assertClose(gradients.weight, Tensor(shape: layer.weight.shape, scalars: expectedWeight.map { Float($0) }),
                    absoluteTolerance: 1e-2, relativeTolerance: 1e-4)
    }
}
