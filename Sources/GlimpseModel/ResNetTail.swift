import GlimpseLayers
import GlimpseTensor

/// The last stages of a pretrained ResNet, from `layer<firstStage>` to `layer4`, trained with
/// the decoder (`glimpse train --fine-tune-from-stage`): stage `firstStage`'s input [N, C, h, h]
/// (`ResNetEncoder.stageInput`) → the residual blocks → `AdaptiveAvgPool2d` to g × g → features
/// [N, P, D], as `ResNetEncoder` gives them.
///
/// Its BatchNorms stay folded into the convolutions (their statistics frozen, as in inference
/// mode), so training moves the folded weights and biases: the usual recipe of fine-tuning an
/// ImageNet ResNet with BatchNorm in eval mode, in the parameters that the fold leaves. The
/// parameters carry the folded convolutions' torchvision names (`layer4.0.conv1.weight`,
/// `layer4.0.downsample.0.bias`, …).
public struct ResNetTail: Parameterized, Sendable {
    public let architecture: ResNetArchitecture
    /// 1 … 4
    public let firstStage: Int
    /// g
    public let gridSize: Int
    /// Every block of stages `firstStage` … 4, in order.
    public var blocks: [ResidualBlock]
    /// Each block's name prefix, "layer4.0." …
    public let blockPrefixes: [String]

    public struct BlockGradients: Sendable {
        public var main: [Conv2d.Gradients]
        public var downsample: Conv2d.Gradients?
    }

    public struct Gradients: Sendable {
        public var blocks: [BlockGradients]
    }

    struct BlockCache: Sendable {
        /// Each main convolution's input ([N, C, h, h] …).
        var main: [Conv2d.Cache]
        /// The ReLU after each main convolution but the last, then the one after the addition.
        var rectified: [ReLU.Cache]
        var downsample: Conv2d.Cache?
    }

    public struct Cache: Sendable {
        var blocks: [BlockCache]
        /// The last stage's output shape [N, D, h, w], before pooling.
        var lastStageShape: [Int]
        /// [N, D, g, g]
        var gridShape: [Int]
    }

    /// The stages from `firstStage` on of `encoder`, as they are now.
    public init(_ encoder: ResNetEncoder, fromStage firstStage: Int) {
        precondition((1...4).contains(firstStage), "a ResNet's stages are 1 to 4, got \(firstStage)")
        architecture = encoder.architecture
        self.firstStage = firstStage
        gridSize = encoder.gridSize
        blocks = Array(encoder.stages[(firstStage - 1)...].joined())
        blockPrefixes = (firstStage...4).flatMap { stage in
            (0..<encoder.architecture.blockCounts[stage - 1]).map { "layer\(stage).\($0)." }
        }
    }

    /// Any blocks (for gradient checks on channel counts small enough to check every scalar);
    /// `architecture` and `firstStage` only label it.
    init(blocks: [ResidualBlock], gridSize: Int, architecture: ResNetArchitecture = .resnet18, firstStage: Int = 4) {
        self.architecture = architecture
        self.firstStage = firstStage
        self.gridSize = gridSize
        self.blocks = blocks
        blockPrefixes = blocks.indices.map { "layer\(firstStage).\($0)." }
    }

    /// The convolutions in `architecture.convolutions` order (main, then downsample, per block).
    public var convolutions: [Conv2d] { blocks.flatMap(\.convolutions) }

    /// The layout entries of `convolutions`, with their torchvision names.
    public var layout: ArraySlice<ResNetConvolution> {
        architecture.convolutions.dropFirst(architecture.convolutionCount(before: firstStage))
    }

    public var parameterPaths: [ParameterPath<ResNetTail>] {
        var paths: [ParameterPath<ResNetTail>] = []
        for (index, block) in blocks.enumerated() {
            var layers: [(String, WritableKeyPath<ResNetTail, Conv2d>, WritableKeyPath<Gradients, Conv2d.Gradients>)] =
                block.main.indices.map { ("conv\($0 + 1)", \.blocks[index].main[$0], \.blocks[index].main[$0]) }
            if block.downsample != nil { layers.append(("downsample.0", \.blocks[index].downsample!, \.blocks[index].downsample!)) }
            for (name, layer, gradient) in layers {
                let prefix = blockPrefixes[index] + name
                paths.append(ParameterPath(name: prefix + ".weight", parameter: layer.appending(path: \.weight),
                                           gradient: gradient.appending(path: \.weight)))
                paths.append(ParameterPath(name: prefix + ".bias", parameter: layer.appending(path: \.bias!),
                                           gradient: gradient.appending(path: \.bias!)))
            }
        }
        return paths
    }

    public func zeroGradients() -> Gradients {
        Gradients(blocks: blocks.map { block in
            BlockGradients(main: block.main.map { $0.zeroGradients() }, downsample: block.downsample?.zeroGradients())
        })
    }

    /// Inference: stage `firstStage`'s input [N, C, h, h] → features [N, P, D] (+ 2 with `positions`).
    public func callAsFunction(_ input: Tensor, positions: Bool = false) -> Tensor {
        var activation = input
        for block in blocks {
            var main = activation
            for (index, layer) in block.main.enumerated() {
                main = layer(main)
                if index < block.main.count - 1 { main = ReLU()(main) }
            }
            main += block.downsample.map { $0(activation) } ?? activation
            activation = ReLU()(main)
        }
        return Encoder.gridToLocations(AdaptiveAvgPool2d(outputSize: gridSize)(activation), positions: positions)
    }

    /// Training: as `callAsFunction`, with what `backward` needs.
    public func forward(_ input: Tensor, positions: Bool = false) -> (features: Tensor, cache: Cache) {
        var activation = input // [N, C, h, h]
        var caches: [BlockCache] = []
        caches.reserveCapacity(blocks.count)
        for block in blocks {
            var cache = BlockCache(main: [], rectified: [], downsample: nil)
            var main = activation
            for (index, layer) in block.main.enumerated() {
                let (output, convolutionCache) = layer.forward(main)
                cache.main.append(convolutionCache)
                main = output
                if index < block.main.count - 1 {
                    let (rectified, reluCache) = ReLU().forward(main)
                    cache.rectified.append(reluCache)
                    main = rectified
                }
            }
            if let downsample = block.downsample {
                let (shortcut, downsampleCache) = downsample.forward(activation)
                cache.downsample = downsampleCache
                main += shortcut
            } else {
                main += activation
            }
            let (output, reluCache) = ReLU().forward(main)
            cache.rectified.append(reluCache)
            caches.append(cache)
            activation = output
        }
        let grid = AdaptiveAvgPool2d(outputSize: gridSize)(activation) // [N, D, g, g]
        return (Encoder.gridToLocations(grid, positions: positions),
                Cache(blocks: caches, lastStageShape: activation.shape, gridShape: grid.shape))
    }

    /// dL/dfeatures [N, P, D] → every parameter's gradient accumulated into `gradients`; the
    /// stage input's gradient only when `computingInputGradient` (the frozen stages below need none).
    @discardableResult
    public func backward(_ featuresGradient: Tensor, cache: consuming Cache, into gradients: inout Gradients,
                         computingInputGradient: Bool = false) -> Tensor? {
        let pool = AdaptiveAvgPool2d(outputSize: gridSize)
        var gradient = pool.backward(Encoder.locationsToGrid(featuresGradient, gridShape: cache.gridShape),
                                     inputShape: cache.lastStageShape) // [N, D, h, w]
        // Moved out of the cache (a swap, so no second reference remains): each block's activations
        // are freed as soon as its backward has used them.
        var cache = cache
        var caches: [BlockCache] = []
        swap(&caches, &cache.blocks)
        for index in blocks.indices.reversed() {
            let block = blocks[index], blockCache = caches.removeLast()
            let needsInput = index > 0 || computingInputGradient
            let sumGradient = ReLU().backward(gradient, cache: blockCache.rectified.last!)
            var mainGradient = sumGradient
            for layer in block.main.indices.reversed() {
                if layer == 0 && !needsInput {
                    block.main[0].backwardWeights(mainGradient, cache: blockCache.main[0], into: &gradients.blocks[index].main[0])
                    break
                }
                mainGradient = block.main[layer].backward(mainGradient, cache: blockCache.main[layer],
                                                          into: &gradients.blocks[index].main[layer])
                if layer > 0 { mainGradient = ReLU().backward(mainGradient, cache: blockCache.rectified[layer - 1]) }
            }
            if let downsample = block.downsample {
                if needsInput {
                    mainGradient += downsample.backward(sumGradient, cache: blockCache.downsample!,
                                                        into: &gradients.blocks[index].downsample!)
                } else {
                    downsample.backwardWeights(sumGradient, cache: blockCache.downsample!, into: &gradients.blocks[index].downsample!)
                }
            } else if needsInput {
                mainGradient += sumGradient
            }
            gradient = mainGradient
        }
        return computingInputGradient ? gradient : nil
    }
}
