import Foundation
import GlimpseTensor

/// A convolution prepared for inference: the BatchNorm that follows it (running statistics)
/// folded into its weight and bias, ReLU applied as the output is written, and its Winograd
/// weights made once per tile size and kept.
///
/// `FusedConvolution(conv, batchNorm: bn, rectified: true)(x)` equals
/// `bn.normalizedThenReLU(conv(x))` up to float rounding: the fold computes
/// W'[o] = W[o]·s[o] and b'[o] = b[o]·s[o] + t[o] (s, t: `BatchNorm2d.inferenceScaleAndShift`),
/// so each output is one rounding of Σ W·s·x rather than of (Σ W·x)·s. Winograd layers scale
/// their transformed weights instead (U(W)·s), and never copy W. What it saves per call
/// (one image, AMD EPYC Zen 3): the Winograd weight transform, 9% of the CPU time, and the
/// BatchNorm pass over every activation, 3%.
///
/// Immutable once made; safe to share between threads. Training never uses it: its layers
/// change every step (`Encoder` makes these anew whenever its stages change).
public final class FusedConvolution: @unchecked Sendable {
    /// Whether ReLU follows.
    public let rectified: Bool

    /// The layer's own weight W (shared with the model, not copied) and the folded bias b'.
    private let unscaled: Conv2d
    /// s, per output channel; nil without a BatchNorm.
    private let scale: [Float]?
    /// W·s with b': made at the first call that needs it (the direct and im2col paths);
    /// the Winograd path scales its transformed weights instead.
    private var scaled: Conv2d?
    /// By tile size, for the product kernel in use (`Conv2d.winogradProducts`).
    private var winogradWeights: [WinogradWeights] = []
    private let lock = NSLock()

    public init(_ convolution: Conv2d, batchNorm: BatchNorm2d? = nil, rectified: Bool) {
        self.rectified = rectified
        guard let batchNorm else {
            (unscaled, scale, scaled) = (convolution, nil, convolution)
            return
        }
        precondition(batchNorm.channels == convolution.outputChannels,
                     "BatchNorm2d(\(batchNorm.channels)) cannot follow Conv2d(-> \(convolution.outputChannels))")
        let (scale, shift) = batchNorm.inferenceScaleAndShift
        let bias = convolution.bias?.scalars ?? [Float](repeating: 0, count: scale.count)
        let foldedBias = Tensor(shape: [scale.count], scalars: (0..<scale.count).map { bias[$0] * scale[$0] + shift[$0] })
        self.scale = scale
        unscaled = Conv2d(weight: convolution.weight, bias: foldedBias, stride: convolution.stride,
                          padding: convolution.padding)
    }

    /// The folded layer: weight W·s, bias b' (always present).
    public var convolution: Conv2d {
        lock.lock()
        defer { lock.unlock() }
        if let scaled { return scaled }
        var weight = unscaled.weight
        let perOutput = weight.scalarCount / unscaled.outputChannels
        weight.withUnsafeMutableBufferPointer { weight in
            for (output, factor) in (scale ?? []).enumerated() {
                for index in (output * perOutput)..<((output + 1) * perOutput) { weight[index] *= factor }
            }
        }
        let made = Conv2d(weight: weight, bias: unscaled.bias, stride: unscaled.stride, padding: unscaled.padding)
        scaled = made
        return made
    }

    /// Inference: the convolution, its bias, then ReLU when `rectified`; no cache.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        if unscaled.usesDirectKernel { return convolution.forwardDirect(input, rectified: rectified) }
        if let tile = unscaled.winogradForwardTile(for: input) {
            return unscaled.forwardWinograd(input, tile: tile, rectified: rectified, weights: weights(tile: tile))
        }
        return convolution.forwardThroughColumns(input, rectified: rectified)
    }

    /// The layer's Winograd weights for `tile` (s folded in), made at the first call that needs them.
    func weights(tile: Int) -> WinogradWeights {
        lock.lock()
        defer { lock.unlock() }
        let kernel = Conv2d.winogradProducts
        if let made = winogradWeights.first(where: { $0.tile == tile && $0.kernel == kernel }) { return made }
        let made = WinogradWeights(unscaled, tile: tile, kernel: kernel, outputScale: scale)
        winogradWeights.append(made)
        return made
    }
}
