import Foundation
import GlimpseLayers
import GlimpseTensor

/// The ImageNet ResNets of torchvision that Glimpse can encode photographs with (He et al.
/// 2016, torchvision's v1.5: a Bottleneck's stride sits on its 3×3 convolution).
public enum ResNetArchitecture: String, Codable, CaseIterable, Sendable {
    case resnet18, resnet34, resnet50

    /// Residual blocks in each of the four stages (`layer1` … `layer4`).
    public var blockCounts: [Int] {
        switch self {
        case .resnet18: return [2, 2, 2, 2]
        case .resnet34, .resnet50: return [3, 4, 6, 3]
        }
    }

    /// Bottleneck blocks (1×1, 3×3, 1×1, four times as many output channels) rather than
    /// BasicBlocks (two 3×3).
    public var usesBottleneck: Bool { self == .resnet50 }

    /// D: the channels of the last stage, each grid location's feature size.
    public var featureSize: Int { usesBottleneck ? 2048 : 512 }

    /// The input of stage `stage` (1 … 4) for images of side S: [C, h, h]. The stem and the
    /// max-pool each take h to ⌊(h − 1)/2⌋ + 1, and so does the first block of stages 2 to 4.
    public func stageInputShape(_ stage: Int, imageSize: Int) -> [Int] {
        precondition((1...4).contains(stage), "a ResNet's stages are 1 to 4, got \(stage)")
        var side = imageSize
        for _ in 0..<(2 + max(0, stage - 2)) { side = (side - 1) / 2 + 1 }
        let channels = stage == 1 ? 64 : (64 << (stage - 2)) * (usesBottleneck ? 4 : 1)
        return [channels, side, side]
    }

    /// How many of `convolutions` come before stage `stage` (1 … 4): the stem's and the earlier stages'.
    public func convolutionCount(before stage: Int) -> Int {
        convolutions.prefix { !$0.name.hasPrefix("layer\(stage).") }.count
    }

    /// Every convolution in forward order, each with the BatchNorm that follows it, under
    /// torchvision's state-dict names: `conv1`/`bn1` (the stem), then per block
    /// `layerS.B.conv1`/`bn1`, `conv2`/`bn2` (, `conv3`/`bn3`), and `layerS.B.downsample.0`/`.1`
    /// where the shortcut changes size. The one source of every name and shape.
    public var convolutions: [ResNetConvolution] {
        var layers = [ResNetConvolution(name: "conv1", batchNormName: "bn1", inputChannels: 3, outputChannels: 64,
                                        kernelSize: 7, stride: 2, padding: 3)]
        var channels = 64
        for (stage, blockCount) in blockCounts.enumerated() {
            let planes = 64 << stage
            let output = planes * (usesBottleneck ? 4 : 1)
            for block in 0..<blockCount {
                let prefix = "layer\(stage + 1).\(block)."
                let stride = block == 0 && stage > 0 ? 2 : 1
                func layer(_ index: Int, _ input: Int, _ output: Int, kernel: Int, stride: Int) -> ResNetConvolution {
                    ResNetConvolution(name: prefix + "conv\(index)", batchNormName: prefix + "bn\(index)",
                                      inputChannels: input, outputChannels: output, kernelSize: kernel,
                                      stride: stride, padding: kernel / 2)
                }
                if usesBottleneck {
                    layers += [layer(1, channels, planes, kernel: 1, stride: 1), layer(2, planes, planes, kernel: 3, stride: stride),
                               layer(3, planes, output, kernel: 1, stride: 1)]
                } else {
                    layers += [layer(1, channels, planes, kernel: 3, stride: stride), layer(2, planes, planes, kernel: 3, stride: 1)]
                }
                if stride != 1 || channels != output {
                    layers.append(ResNetConvolution(name: prefix + "downsample.0", batchNormName: prefix + "downsample.1",
                                                    inputChannels: channels, outputChannels: output, kernelSize: 1,
                                                    stride: stride, padding: 0))
                }
                channels = output
            }
        }
        return layers
    }
}

/// One convolution of a ResNet and the BatchNorm after it, as torchvision names them.
public struct ResNetConvolution: Equatable, Sendable {
    public let name: String
    public let batchNormName: String
    public let inputChannels: Int
    public let outputChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int

    /// [O, C, k, k]
    public var weightShape: [Int] { [outputChannels, inputChannels, kernelSize, kernelSize] }
    public var isShortcut: Bool { name.hasSuffix("downsample.0") }
}

/// One residual block, its BatchNorms folded into biased convolutions:
/// ReLU(main(x) + shortcut(x)), main = conv1 → ReLU → conv2 (→ ReLU → conv3 for a
/// Bottleneck), shortcut = `downsample` (1×1, strided) or x itself.
public struct ResidualBlock: Sendable {
    /// conv1, conv2 (, conv3).
    public var main: [Conv2d]
    public var downsample: Conv2d?

    /// main, then downsample: `ResNetArchitecture.convolutions` order.
    public var convolutions: [Conv2d] { main + (downsample.map { [$0] } ?? []) }
}

/// A torchvision ResNet (18, 34 or 50) without its classifier, as Glimpse's image encoder:
/// images [N, 3, S, S] → the last stage's [N, D, h, w] average-pooled to g × g
/// (`AdaptiveAvgPool2d`) → features [N, P, D], P = g² (locations row-major, as `Encoder`).
/// At S = 224 the last stage is 7 × 7, so g = 7 keeps it as it is.
///
/// Every BatchNorm is in inference mode and folded into the convolution before it:
/// W' = W·γ/√(σ² + ε), b' = β − μ·γ/√(σ² + ε) (computed in Double), so the encoder is
/// convolutions with biases, ReLUs, additions and one max-pool. `ResNetWeights` reads
/// torchvision's state dicts and Glimpse's encoder files into it.
public struct ResNetEncoder: Sendable {
    public let architecture: ResNetArchitecture
    /// g: the side of the feature grid.
    public let gridSize: Int
    /// `conv1`, bn1 folded: 7×7, stride 2, 3 → 64.
    public let stem: Conv2d
    /// `layer1` … `layer4`.
    public let stages: [[ResidualBlock]]
    /// The same layers ready for inference (`FusedConvolution`s), made once.
    private let fused: FusedResNet

    /// P = g²
    public var locationCount: Int { gridSize * gridSize }
    /// D
    public var featureSize: Int { architecture.featureSize }

    /// The encoder from its folded convolutions in `architecture.convolutions` order, each
    /// with weight [O, C, k, k] and bias [O].
    public init(architecture: ResNetArchitecture, gridSize: Int, convolutions: [Conv2d]) {
        let layout = architecture.convolutions
        precondition(gridSize >= 1, "the feature grid needs a positive side")
        precondition(convolutions.count == layout.count, "\(architecture) has \(layout.count) convolutions, got \(convolutions.count)")
        for (convolution, spec) in zip(convolutions, layout) {
            precondition(convolution.weight.shape == spec.weightShape && convolution.bias?.shape == [spec.outputChannels]
                            && convolution.stride == spec.stride && convolution.padding == spec.padding,
                         "\(spec.name): weight \(convolution.weight.shape) does not fit \(spec.weightShape) with a bias")
        }
        self.architecture = architecture
        self.gridSize = gridSize
        stem = convolutions[0]
        var stages: [[ResidualBlock]] = []
        var index = 1
        for (stage, blockCount) in architecture.blockCounts.enumerated() {
            var blocks: [ResidualBlock] = []
            for block in 0..<blockCount {
                let prefix = "layer\(stage + 1).\(block)."
                var main: [Conv2d] = []
                while index < layout.count && layout[index].name.hasPrefix(prefix) && !layout[index].isShortcut {
                    main.append(convolutions[index])
                    index += 1
                }
                var downsample: Conv2d? = nil
                if index < layout.count && layout[index].name == prefix + "downsample.0" {
                    downsample = convolutions[index]
                    index += 1
                }
                blocks.append(ResidualBlock(main: main, downsample: downsample))
            }
            stages.append(blocks)
        }
        self.stages = stages
        fused = FusedResNet(stem: stem, stages: stages)
    }

    /// Random weights (PyTorch's default initialisation, biases zero): for tests and benchmarks,
    /// which need the real shapes and costs but not trained weights.
    public init(architecture: ResNetArchitecture, gridSize: Int = 7, using generator: inout SeededGenerator) {
        let convolutions = architecture.convolutions.map { spec in
            var layer = Conv2d(inputChannels: spec.inputChannels, outputChannels: spec.outputChannels,
                               kernelSize: spec.kernelSize, stride: spec.stride, padding: spec.padding, using: &generator)
            layer.bias = Tensor(zeros: [spec.outputChannels])
            return layer
        }
        self.init(architecture: architecture, gridSize: gridSize, convolutions: convolutions)
    }

    /// Every folded convolution in `architecture.convolutions` order.
    public var convolutions: [Conv2d] {
        [stem] + stages.flatMap { $0.flatMap(\.convolutions) }
    }

    /// Inference: images [N, 3, S, S] (S ≥ 32) → features [N, P, D]; with `positions`, each
    /// location's cell centre (x, y) follows its channels, D = channels + 2 (as `Encoder`).
    public func callAsFunction(_ images: Tensor, positions: Bool = false) -> Tensor {
        precondition(images.rank == 4 && images.shape[1] == 3 && images.shape[2] >= 32 && images.shape[3] >= 32,
                     "a ResNet encoder needs images [N, 3, S, S] with S ≥ 32, got \(images.shape)")
        let grid = AdaptiveAvgPool2d(outputSize: gridSize)(fused.lastStage(images))
        return Encoder.gridToLocations(grid, positions: positions)
    }

    /// Inference through the stem and the stages before `stage` (1 … 4): images [N, 3, S, S] →
    /// stage `stage`'s input [N, C, h, h] (`ResNetArchitecture.stageInputShape`), what a
    /// `ResNetTail` from that stage takes.
    public func stageInput(_ images: Tensor, stage: Int) -> Tensor {
        precondition(images.rank == 4 && images.shape[1] == 3 && images.shape[2] >= 32 && images.shape[3] >= 32,
                     "a ResNet encoder needs images [N, 3, S, S] with S ≥ 32, got \(images.shape)")
        precondition((1...4).contains(stage), "a ResNet's stages are 1 to 4, got \(stage)")
        return fused.output(images, blocks: architecture.blockCounts.prefix(stage - 1).reduce(0, +))
    }
}

/// `ResNetEncoder`'s layers as inference runs them: each convolution a `FusedConvolution`
/// (ReLU applied as the output is written where one follows).
private struct FusedResNet: Sendable {
    struct Block: Sendable {
        var main: [FusedConvolution]
        var downsample: FusedConvolution?
    }
    let stem: FusedConvolution
    let blocks: [Block]

    init(stem: Conv2d, stages: [[ResidualBlock]]) {
        self.stem = FusedConvolution(stem, rectified: true)
        blocks = stages.joined().map { block in
            Block(main: block.main.enumerated().map { index, layer in
                      FusedConvolution(layer, rectified: index < block.main.count - 1)
                  },
                  downsample: block.downsample.map { FusedConvolution($0, rectified: false) })
        }
    }

    /// images [N, 3, S, S] → the last stage's output [N, D, h, w], h = ⌈S/32⌉ for S a multiple of 32.
    func lastStage(_ images: Tensor) -> Tensor { output(images, blocks: blocks.count) }

    /// images [N, 3, S, S] → the output of the first `count` blocks (0: the max-pool's).
    func output(_ images: Tensor, blocks count: Int) -> Tensor {
        var activation = MaxPool2d(kernelSize: 3, stride: 2, padding: 1)(stem(images))
        for block in blocks.prefix(count) {
            var main = activation
            for layer in block.main { main = layer(main) }
            let shortcut = block.downsample.map { $0(activation) } ?? activation
            FusedResNet.addThenReLU(&main, shortcut)
            activation = main
        }
        return activation
    }

    /// x ← max(0, x + shortcut), in one pass, in chunks over the cores (NaN stays NaN, as `ReLU`).
    static func addThenReLU(_ x: inout Tensor, _ shortcut: Tensor) {
        precondition(x.shape == shortcut.shape, "residual shapes differ: \(x.shape) and \(shortcut.shape)")
        x.withUnsafeMutableBufferPointer { x in
            shortcut.withUnsafeBufferPointer { shortcut in
                let (target, source, count) = (x.baseAddress!, shortcut.baseAddress!, x.count)
                let chunk = 1 << 16
                Parallel.forEach((count + chunk - 1) / chunk) { task in
                    for index in (task * chunk)..<min(count, (task + 1) * chunk) {
                        let sum = target[index] + source[index]
                        target[index] = sum < 0 ? 0 : sum
                    }
                }
            }
        }
    }
}
