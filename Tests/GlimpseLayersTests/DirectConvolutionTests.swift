@testable import GlimpseLayers
import GlimpseTensor
import GlimpseTestSupport
import Testing

/// dW by the definition, in Double: dW[o, c, ky, kx] = Σ dY[b, o, oy, ox] · x[b, c, oy − p + ky, ox − p + kx].
private func naiveWeightGradient(_ input: Tensor, _ upstream: Tensor, kernel: Int, padding: Int) -> Tensor {
    let (batch, channels, height, width) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
    let (outputs, outputHeight, outputWidth) = (upstream.shape[1], upstream.shape[2], upstream.shape[3])
    var result = Tensor(zeros: [outputs, channels, kernel, kernel])
    for o in 0..<outputs {
        for c in 0..<channels {
            for ky in 0..<kernel {
                for kx in 0..<kernel {
                    var total = 0.0
                    for b in 0..<batch {
                        for oy in 0..<outputHeight {
                            for ox in 0..<outputWidth {
                                let iy = oy - padding + ky, ix = ox - padding + kx
                                guard iy >= 0, iy < height, ix >= 0, ix < width else { continue }
                                total += Double(upstream[b, o, oy, ox]) * Double(input[b, c, iy, ix])
                            }
                        }
                    }
                    result[o, c, ky, kx] = Float(total)
                }
            }
        }
    }
    return result
}

/// The direct 3x3 kernels (CGlimpseKernels) that few-channel layers use instead of im2col + sgemm.
@Suite("Conv2d direct kernels")
struct DirectConvolutionTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var batch, channels, outputs, height, width, padding: Int
        var testDescription: String { "B\(batch) \(channels)->\(outputs) \(height)x\(width) p\(padding)" }
    }

    // Non-square sizes, widths not a multiple of 8 (masked tails) or of 16, padding 0–2,
    // output channels not a multiple of the register blocks (3 and 4), and batches not
    // divisible by the worker count (2) or by the weight-gradient chunks (4).
    static let cases = [
        Case(batch: 3, channels: 3, outputs: 32, height: 17, width: 21, padding: 1),
        Case(batch: 5, channels: 1, outputs: 7, height: 9, width: 35, padding: 0),
        Case(batch: 1, channels: 4, outputs: 5, height: 12, width: 6, padding: 2),
        Case(batch: 7, channels: 2, outputs: 13, height: 5, width: 3, padding: 1),
        Case(batch: 2, channels: 3, outputs: 16, height: 20, width: 40, padding: 1),
    ]

    @Test("the first layer's shape takes the direct path where the CPU allows; others do not")
    func pathChoice() {
        var generator = SeededGenerator(seed: 30)
        #expect(Conv2d(inputChannels: 3, outputChannels: 32, using: &generator).usesDirectKernel
                == Conv2d.directKernelsAvailable)
        #expect(!Conv2d(inputChannels: 32, outputChannels: 32, using: &generator).usesDirectKernel)
        #expect(!Conv2d(inputChannels: 3, outputChannels: 8, stride: 2, using: &generator).usesDirectKernel)
        #expect(!Conv2d(inputChannels: 3, outputChannels: 8, kernelSize: 5, padding: 2, using: &generator).usesDirectKernel)
    }

    @Test("forward and weight gradient match the definition and im2col + sgemm", arguments: cases)
    func matchesDefinition(_ shape: Case) throws {
        try #require(Conv2d.directKernelsAvailable, "no AVX2 + FMA: the direct kernels are never used here")
        var generator = SeededGenerator(seed: 31)
        let layer = Conv2d(inputChannels: shape.channels, outputChannels: shape.outputs, padding: shape.padding,
                           hasBias: true, using: &generator)
        let input = Tensor(randomNormal: [shape.batch, shape.channels, shape.height, shape.width], using: &generator)
        let direct = layer.forwardDirect(input)
        assertClose(direct, naiveConvolution(input, weight: layer.weight, bias: layer.bias, stride: 1,
                                             padding: shape.padding), absoluteTolerance: 1e-5, name: "output")
        assertClose(direct, layer.forwardThroughColumns(input), absoluteTolerance: 1e-5, name: "output vs im2col")
        #expect(layer(input) == direct)

        let upstream = Tensor(randomNormal: direct.shape, using: &generator)
        let cache = layer.forward(input).cache
        var viaDirect = layer.zeroGradients(), viaColumns = layer.zeroGradients()
        layer.backwardWeightsDirect(upstream, cache: cache, into: &viaDirect)
        layer.backwardWeightsThroughColumns(upstream, cache: cache, into: &viaColumns)
        let expected = naiveWeightGradient(input, upstream, kernel: 3, padding: shape.padding)
        assertClose(viaDirect.weight, expected, absoluteTolerance: 1e-4, name: "weight gradient")
        assertClose(viaDirect.weight, viaColumns.weight, absoluteTolerance: 1e-4, name: "weight gradient vs im2col")
        #expect(viaDirect.bias == viaColumns.bias)

        // Accumulates (+=), like the sgemm path.
        layer.backwardWeightsDirect(upstream, cache: cache, into: &viaDirect)
        assertClose(viaDirect.weight, expected.scaled(by: 2), absoluteTolerance: 2e-4, name: "accumulated twice")
    }

    @Test("fixed chunks in a fixed order: two runs give the same bits")
    func repeatable() throws {
        try #require(Conv2d.directKernelsAvailable, "no AVX2 + FMA: the direct kernels are never used here")
        var generator = SeededGenerator(seed: 32)
        let layer = Conv2d(inputChannels: 3, outputChannels: 8, using: &generator)
        let input = Tensor(randomNormal: [5, 3, 11, 19], using: &generator)
        let upstream = Tensor(randomNormal: [5, 8, 11, 19], using: &generator)
        let cache = layer.forward(input).cache
        var first = layer.zeroGradients(), second = layer.zeroGradients()
        layer.backwardWeightsDirect(upstream, cache: cache, into: &first)
        // Per-chunk partial sums in a fixed order: a second run gives the same bits.
        layer.backwardWeightsDirect(upstream, cache: cache, into: &second)
        #expect(first.weight == second.weight)
        #expect(layer.forwardDirect(input) == layer.forwardDirect(input))
    }
}
