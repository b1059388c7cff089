@testable import GlimpseLayers
import GlimpseTensor
import GlimpseTestSupport
import Testing

/// BatchNorm(conv(x)) in Double, exactly from the float parameters (then ReLU when asked),
/// and the largest Σ|terms| · |scale| + |shift| over the outputs: the scale of its rounding.
private func exactFused(_ conv: Conv2d, _ batchNorm: BatchNorm2d, _ input: Tensor, rectified: Bool)
    -> (values: [Double], scale: Double) {
    let (batch, channels, height, width) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
    let (outputs, stride, padding) = (conv.outputChannels, conv.stride, conv.padding)
    let (outHeight, outWidth) = conv.outputSize(height: height, width: width)
    let (x, w, b) = (input.scalars, conv.weight.scalars, conv.bias?.scalars)
    let gamma = batchNorm.weight.scalars, beta = batchNorm.bias.scalars
    let mean = batchNorm.runningMean.scalars, variance = batchNorm.runningVariance.scalars
    var values: [Double] = [], scale = 0.0
    for n in 0..<batch {
        for o in 0..<outputs {
            let factor = Double(gamma[o]) / (Double(variance[o]) + Double(batchNorm.epsilon)).squareRoot()
            for oy in 0..<outHeight {
                for ox in 0..<outWidth {
                    var total = Double(b?[o] ?? 0), size = abs(total)
                    for c in 0..<channels {
                        for ky in 0..<3 {
                            for kx in 0..<3 {
                                let iy = oy * stride - padding + ky, ix = ox * stride - padding + kx
                                guard iy >= 0 && iy < height && ix >= 0 && ix < width else { continue }
                                let term = Double(w[((o * channels + c) * 3 + ky) * 3 + kx])
                                    * Double(x[((n * channels + c) * height + iy) * width + ix])
                                total += term
                                size += abs(term)
                            }
                        }
                    }
                    let shift = Double(beta[o]) - Double(mean[o]) * factor
                    let value = total * factor + shift
                    values.append(rectified ? max(value, 0) : value)
                    scale = max(scale, size * abs(factor) + abs(shift))
                }
            }
        }
    }
    return (values, scale)
}

/// Records an issue unless every value is within `factor` · 2⁻²⁴ · scale of the exact one
/// (normwise, as in the Winograd tests: F(4x4) was allowed 64 there).
private func expectWithinRounding(_ actual: Tensor, _ exact: (values: [Double], scale: Double), factor: Double = 64,
                                  _ name: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let bound = factor * 0x1p-24 * exact.scale
    let worst = zip(actual.scalars, exact.values).map { abs(Double($0) - $1) }.max() ?? 0
    #expect(actual.scalarCount == exact.values.count, sourceLocation: sourceLocation)
    #expect(worst <= bound, "\(name): error \(worst) over the bound \(bound)", sourceLocation: sourceLocation)
}

/// `FusedConvolution` is inference's Conv2d → BatchNorm2d → ReLU: the same values up to float
/// rounding, on every path a convolution can take.
@Suite("FusedConvolution (BatchNorm folded in, ReLU applied as the output is written)")
struct FusedConvolutionTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var batch, channels, outputs, height, width: Int
        var stride = 1
        var hasBias = false
        var testDescription: String { "\(name): B\(batch) \(channels)->\(outputs) \(height)x\(width)" }
    }

    static let cases = [
        // The first layer's direct kernel (3 input channels).
        Case(name: "direct", batch: 2, channels: 3, outputs: 13, height: 9, width: 11),
        // Winograd F(4x4): 2 · 33 · 17 = 1122 output pixels (≥ 1024); outputs not a multiple of 16.
        Case(name: "Winograd F(4x4)", batch: 2, channels: 10, outputs: 19, height: 33, width: 17),
        // Winograd F(2x2): 1 · 16 · 17 = 272 pixels (256 ..< 1024), with a bias of its own.
        Case(name: "Winograd F(2x2)", batch: 1, channels: 9, outputs: 7, height: 16, width: 17, hasBias: true),
        // im2col + sgemm: stride 2, and 6 input channels (too few for Winograd, too many for direct).
        Case(name: "im2col, stride 2", batch: 3, channels: 8, outputs: 5, height: 10, width: 7, stride: 2),
        Case(name: "im2col, 6 channels", batch: 2, channels: 6, outputs: 12, height: 12, width: 12, hasBias: true),
    ]

    /// A convolution and a BatchNorm with running statistics and affine parameters far from
    /// their initial values (so the fold is not the identity), and an input.
    static func layers(_ testCase: Case, seed: UInt64) -> (Conv2d, BatchNorm2d, Tensor) {
        var generator = SeededGenerator(seed: seed)
        let conv = Conv2d(inputChannels: testCase.channels, outputChannels: testCase.outputs, stride: testCase.stride,
                          hasBias: testCase.hasBias, using: &generator)
        let channels = [testCase.outputs]
        let batchNorm = BatchNorm2d(weight: Tensor(randomUniform: channels, in: 0.5..<2, using: &generator),
                                    bias: Tensor(randomNormal: channels, using: &generator),
                                    runningMean: Tensor(randomNormal: channels, standardDeviation: 0.3, using: &generator),
                                    runningVariance: Tensor(randomUniform: channels, in: 0.05..<3, using: &generator))
        let input = Tensor(randomNormal: [testCase.batch, testCase.channels, testCase.height, testCase.width],
                           using: &generator)
        return (conv, batchNorm, input)
    }

    @Test("equals BatchNorm then ReLU after the convolution, to float rounding", arguments: cases)
    func matchesUnfused(testCase: Case) {
        let (conv, batchNorm, input) = Self.layers(testCase, seed: 60)
        let fused = FusedConvolution(conv, batchNorm: batchNorm, rectified: true)
        let expected = batchNorm.normalizedThenReLU(conv(input))
        let output = fused(input)
        #expect(output.shape == expected.shape)
        // Both within rounding of the exact value (the fold changes which roundings happen).
        let exact = exactFused(conv, batchNorm, input, rectified: true)
        expectWithinRounding(output, exact, "fused")
        expectWithinRounding(expected, exact, "unfused")
        let negatives = output.scalars.filter { $0 < 0 }.count
        let zeros = output.scalars.filter { $0 == 0 }.count
        #expect(negatives == 0)
        #expect(zeros > 0, "ReLU should have clipped some outputs of a random layer")
    }

    @Test("without ReLU: the folded BatchNorm alone")
    func foldWithoutReLU() {
        let (conv, batchNorm, input) = Self.layers(Self.cases[1], seed: 61)
        let output = FusedConvolution(conv, batchNorm: batchNorm, rectified: false)(input)
        expectWithinRounding(output, exactFused(conv, batchNorm, input, rectified: false), "fused")
        #expect(output.scalars.contains { $0 < 0 })
    }

    @Test("keeps its Winograd weights: batch 1 (F(2x2)) and batch 4 (F(4x4)) both made once, results repeat bitwise")
    func keptWeights() {
        let testCase = Case(name: "kept", batch: 1, channels: 16, outputs: 16, height: 16, width: 16)
        let (conv, batchNorm, _) = Self.layers(testCase, seed: 62)
        let fused = FusedConvolution(conv, batchNorm: batchNorm, rectified: true)
        var generator = SeededGenerator(seed: 63)
        let one = Tensor(randomNormal: [1, 16, 16, 16], using: &generator)
        let four = Tensor(randomNormal: [4, 16, 16, 16], using: &generator)
        #expect(fused.convolution.winogradForwardTile(for: one) == 2)
        #expect(fused.convolution.winogradForwardTile(for: four) == 4)
        let first = (fused(one), fused(four))
        let kept = (fused.weights(tile: 2), fused.weights(tile: 4))
        #expect(fused(one) == first.0)
        #expect(fused(four) == first.1)
        #expect(fused.weights(tile: 2) === kept.0)
        #expect(fused.weights(tile: 4) === kept.1)
        expectWithinRounding(first.0, exactFused(conv, batchNorm, one, rectified: true), "batch 1")
        expectWithinRounding(first.1, exactFused(conv, batchNorm, four, rectified: true), "batch 4")
    }

    @Test("ReLU keeps NaN as NaN, as ReLU does")
    func notANumber() {
        let testCase = Self.cases[3] // im2col: a NaN reaches only the outputs whose window holds it
        let (conv, batchNorm, clean) = Self.layers(testCase, seed: 64)
        var input = clean
        input[flat: 17] = .nan
        let expected = batchNorm.normalizedThenReLU(conv(input))
        let output = FusedConvolution(conv, batchNorm: batchNorm, rectified: true)(input)
        let expectedNaN = expected.scalars.indices.filter { expected[flat: $0].isNaN }
        #expect(!expectedNaN.isEmpty)
        #expect(output.scalars.indices.filter { output[flat: $0].isNaN } == expectedNaN)
    }
}
