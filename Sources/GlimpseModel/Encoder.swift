import Foundation
import GlimpseLayers
import GlimpseTensor

/// One encoder stage: Conv3x3 (no bias) → BatchNorm2d → ReLU → Conv3x3 → BatchNorm2d
/// → ReLU → MaxPool 2x2. [N, C, s, s] → [N, C', s/2, s/2].
public struct EncoderStage: Parameterized, Sendable {
    public var conv1: Conv2d
    public var bn1: BatchNorm2d
    public var conv2: Conv2d
    public var bn2: BatchNorm2d

    public struct Gradients: Sendable {
        public var conv1: Conv2d.Gradients
        public var bn1: BatchNorm2d.Gradients
        public var conv2: Conv2d.Gradients
        public var bn2: BatchNorm2d.Gradients
    }

    public struct Cache: Sendable {
        public var conv1: Conv2d.Cache
        public var bn1: BatchNorm2d.Cache
        public var relu1: ReLU.Cache
        public var conv2: Conv2d.Cache
        public var bn2: BatchNorm2d.Cache
        public var relu2: ReLU.Cache
        public var pool: MaxPool2d.Cache
    }

    /// A stage from existing layers (a checkpoint's).
    public init(conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d) {
        self.conv1 = conv1
        self.bn1 = bn1
        self.conv2 = conv2
        self.bn2 = bn2
    }

    public init(inputChannels: Int, outputChannels: Int, using generator: inout SeededGenerator) {
        conv1 = Conv2d(inputChannels: inputChannels, outputChannels: outputChannels, using: &generator)
        bn1 = BatchNorm2d(channels: outputChannels)
        conv2 = Conv2d(inputChannels: outputChannels, outputChannels: outputChannels, using: &generator)
        bn2 = BatchNorm2d(channels: outputChannels)
    }

    /// Named as in the model's `ParameterTable`, without its "encoder.stages.N." prefix.
    public var parameterPaths: [ParameterPath<EncoderStage>] { table.parameterPaths }

    public var bufferPaths: [(name: String, buffer: WritableKeyPath<EncoderStage, Tensor>)] { table.bufferPaths }

    private var table: ParameterTable<EncoderStage> {
        var table = ParameterTable<EncoderStage>()
        // The stage number only picks the size letters of the layouts, which are not used here.
        table.appendStage(0, at: \.self, gradients: \.self, prefix: "")
        return table
    }

    public func zeroGradients() -> Gradients {
        Gradients(conv1: conv1.zeroGradients(), bn1: bn1.zeroGradients(),
                  conv2: conv2.zeroGradients(), bn2: bn2.zeroGradients())
    }

    /// Inference (running statistics): no cache.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        // BatchNorm and ReLU in one pass each time (see `BatchNorm2d.forwardThenReLU`).
        let first = bn1.normalizedThenReLU(conv1(input))
        return MaxPool2d(kernelSize: 2)(bn2.normalizedThenReLU(conv2(first)))
    }

    /// Training mode uses and updates batch statistics; inference mode uses the running ones.
    public mutating func forward(_ input: Tensor, mode: Mode) -> (output: Tensor, cache: Cache) {
        let pool = MaxPool2d(kernelSize: 2)
        // BatchNorm writes max(0, y) directly (one pass instead of two); the ReLU's cache
        // is that same output, as `ReLU.forward` would have kept it.
        let (convolved1, conv1Cache) = conv1.forward(input)
        let (activated1, bn1Cache) = bn1.forwardThenReLU(convolved1, mode: mode)
        let (convolved2, conv2Cache) = conv2.forward(activated1)
        let (activated2, bn2Cache) = bn2.forwardThenReLU(convolved2, mode: mode)
        let (pooled, poolCache) = pool.forward(activated2)
        return (pooled, Cache(conv1: conv1Cache, bn1: bn1Cache, relu1: ReLU.Cache(output: activated1), conv2: conv2Cache,
                              bn2: bn2Cache, relu2: ReLU.Cache(output: activated2), pool: poolCache))
    }

    public func backward(_ outputGradient: Tensor, cache: consuming Cache, into gradients: inout Gradients) -> Tensor {
        backward(outputGradient, cache: cache, into: &gradients, computingInputGradient: true)!
    }

    /// Accumulates the stage's gradients and, when asked, returns dL/dinput. The first
    /// stage's input is the image, which training never needs a gradient for: skipping
    /// it saves a full convolution at the largest resolution.
    ///
    /// Gradient and cache are consumed: when the caller hands over its only copies, each
    /// activation is freed right after its last use and the BatchNorms write dx over their
    /// dy, so the stage peaks at its four activations plus one gradient of that size (six
    /// before). Fields are overwritten with empty tensors rather than `consume`d: a store
    /// releases at that point, while the optimiser may delay the release after a `consume`.
    func backward(_ outputGradient: consuming Tensor, cache: consuming Cache, into gradients: inout Gradients,
                  computingInputGradient: Bool) -> Tensor? {
        var cache = cache
        let empty = Tensor(zeros: [0])
        var gradient = MaxPool2d(kernelSize: 2).backward(outputGradient, cache: cache.pool)
        outputGradient = empty
        cache.pool.argmax = []
        bn2.backwardThroughReLU(inPlace: &gradient, reluOutput: cache.relu2.output, cache: cache.bn2, into: &gradients.bn2)
        cache.relu2.output = empty
        cache.bn2.input = empty
        gradient = conv2.backward(gradient, cache: cache.conv2, into: &gradients.conv2)
        cache.conv2.input = empty
        bn1.backwardThroughReLU(inPlace: &gradient, reluOutput: cache.relu1.output, cache: cache.bn1, into: &gradients.bn1)
        cache.relu1.output = empty
        cache.bn1.input = empty
        guard computingInputGradient else {
            conv1.backwardWeights(gradient, cache: cache.conv1, into: &gradients.conv1)
            return nil
        }
        return conv1.backward(gradient, cache: cache.conv1, into: &gradients.conv1)
    }
}

/// The CNN encoder: images [N, 3, S, S] (planar, as `Preprocessing` lays them out)
/// → features [N, P, D], the [N, D, g, g] activation transposed so that each of the
/// P = g² grid locations (row-major over the grid) is one D-vector.
public struct Encoder: Parameterized, Sendable {
    /// Every change to a stage (an optimizer step, BatchNorm's running statistics, a
    /// checkpoint's tensors) goes through this property, and forgets the inference layers.
    public var stages: [EncoderStage] {
        didSet { inference = InferenceLayers() }
    }
    /// Whether each location's features end with its grid coordinates (x, y), as
    /// `ModelConfiguration.positionFeatures` says: D = the last stage's channels + 2.
    public var positionFeatures = false

    /// The stages as inference runs them (`FusedConvolution`s), made at the first inference
    /// call after the stages last changed, then shared by every copy of this encoder that
    /// has not changed since.
    private var inference = InferenceLayers()

    public struct Gradients: Sendable {
        public var stages: [EncoderStage.Gradients]
    }

    public struct Cache: Sendable {
        public var stages: [EncoderStage.Cache]
        /// [N, D, g, g]: the last stage's output shape, for the transpose back.
        public var gridShape: [Int]
    }

    /// An encoder from existing stages (a checkpoint's).
    public init(stages: [EncoderStage], positionFeatures: Bool = false) {
        self.stages = stages
        self.positionFeatures = positionFeatures
    }

    public init(configuration: ModelConfiguration, using generator: inout SeededGenerator) {
        var stages: [EncoderStage] = []
        var inputChannels = 3
        for channels in configuration.stageChannels {
            stages.append(EncoderStage(inputChannels: inputChannels, outputChannels: channels, using: &generator))
            inputChannels = channels
        }
        self.stages = stages
        positionFeatures = configuration.positionFeatures
    }

    /// Named as in the model's `ParameterTable`, without its "encoder." prefix.
    public var parameterPaths: [ParameterPath<Encoder>] { table.parameterPaths }

    public var bufferPaths: [(name: String, buffer: WritableKeyPath<Encoder, Tensor>)] { table.bufferPaths }

    private var table: ParameterTable<Encoder> {
        var table = ParameterTable<Encoder>()
        table.appendEncoder(stageCount: stages.count, at: \.self, gradients: \.self, prefix: "")
        return table
    }

    public func zeroGradients() -> Gradients {
        Gradients(stages: stages.map { $0.zeroGradients() })
    }

    /// Inference: images [N, 3, S, S] → features [N, P, D], running statistics, no cache.
    /// Each stage runs as two `FusedConvolution`s (BatchNorm folded in, ReLU applied as the
    /// output is written) and the pooling: equal to running `EncoderStage`s up to float rounding.
    public func callAsFunction(_ images: Tensor) -> Tensor {
        let pool = MaxPool2d(kernelSize: 2)
        var activation = images
        for (first, second) in inference.layers(of: stages) { activation = pool(second(first(activation))) }
        return Encoder.gridToLocations(activation, positions: positionFeatures)
    }

    /// images [N, 3, S, S] → features [N, P, D], with a cache for `backward`.
    public mutating func forward(_ images: Tensor, mode: Mode) -> (features: Tensor, cache: Cache) {
        var activation = images
        var caches: [EncoderStage.Cache] = []
        caches.reserveCapacity(stages.count)
        for index in stages.indices {
            let (output, cache) = stages[index].forward(activation, mode: mode)
            caches.append(cache)
            activation = output
        }
        return (Encoder.gridToLocations(activation, positions: positionFeatures),
                Cache(stages: caches, gridShape: activation.shape))
    }

    /// dL/dfeatures [N, P, D] → dL/dimages [N, 3, S, S]; accumulates every stage's gradients.
    /// Pass the cache with `consume` to free each stage's activations as soon as backward has
    /// used them (see `EncoderStage.backward`).
    public func backward(_ featuresGradient: Tensor, cache: consuming Cache, into gradients: inout Gradients) -> Tensor {
        backward(featuresGradient, cache: cache, into: &gradients, computingImagesGradient: true)!
    }

    /// Accumulates every stage's gradients without dL/dimages, which training does not
    /// use (the first convolution then computes its weight gradient only).
    public func backwardParameters(_ featuresGradient: Tensor, cache: consuming Cache, into gradients: inout Gradients) {
        _ = backward(featuresGradient, cache: cache, into: &gradients, computingImagesGradient: false)
    }

    private func backward(_ featuresGradient: Tensor, cache: consuming Cache, into gradients: inout Gradients,
                          computingImagesGradient: Bool) -> Tensor? {
        var gradient: Tensor? = Encoder.locationsToGrid(featuresGradient, gridShape: cache.gridShape)
        // Moved out of the cache (a swap, so no second reference remains), then each stage's
        // cache and incoming gradient handed over as temporaries, to be freed inside.
        var cache = cache
        var stageCaches: [EncoderStage.Cache] = []
        swap(&stageCaches, &cache.stages)
        for index in stages.indices.reversed() {
            gradient = stages[index].backward(gradient.take()!, cache: stageCaches.removeLast(),
                                              into: &gradients.stages[index],
                                              computingInputGradient: index > 0 || computingImagesGradient)
        }
        return gradient
    }

    /// [N, C, g, g] → [N, P, D]: one [C, P] → [P, C] transpose per image; with `positions`,
    /// D = C + 2 and each location's last two components are its cell centre's x and y,
    /// from −1 + 1/g (left, top) to 1 − 1/g (right, bottom).
    static func gridToLocations(_ grid: Tensor, positions: Bool = false) -> Tensor {
        let (count, channels, side) = (grid.shape[0], grid.shape[1], grid.shape[3])
        let locations = grid.shape[2] * side
        let width = channels + (positions ? 2 : 0)
        return Tensor(shape: [count, locations, width]) { target in
            grid.withUnsafeBufferPointer { source in
                for image in 0..<count {
                    let from = source.baseAddress! + image * channels * locations
                    let to = target.baseAddress! + image * width * locations
                    for channel in 0..<channels {
                        for location in 0..<locations { to[location * width + channel] = from[channel * locations + location] }
                    }
                    guard positions else { continue }
                    for location in 0..<locations {
                        to[location * width + channels] = Encoder.coordinate(location % side, of: side)
                        to[location * width + channels + 1] = Encoder.coordinate(location / side, of: grid.shape[2])
                    }
                }
            }
        }
    }

    /// The centre of cell `index` of `count` along one axis, on [−1, 1].
    static func coordinate(_ index: Int, of count: Int) -> Float {
        Float(2 * index + 1) / Float(count) - 1
    }

    /// [N, P, D] → [N, C, g, g], the inverse of `gridToLocations`: position components, when
    /// there are any (D = C + 2), are dropped (they are constants).
    static func locationsToGrid(_ features: Tensor, gridShape: [Int]) -> Tensor {
        let (count, channels, locations) = (gridShape[0], gridShape[1], gridShape[2] * gridShape[3])
        precondition(features.rank == 3 && features.shape[0] == count && features.shape[1] == locations
                        && (features.shape[2] == channels || features.shape[2] == channels + 2),
                     "encoder backward: feature gradient \(features.shape), expected [\(count), \(locations), \(channels)(+2)]")
        let width = features.shape[2]
        return Tensor(shape: gridShape) { target in
            features.withUnsafeBufferPointer { source in
                for image in 0..<count {
                    let from = source.baseAddress! + image * width * locations
                    let to = target.baseAddress! + image * channels * locations
                    for location in 0..<locations {
                        for channel in 0..<channels { to[channel * locations + location] = from[location * width + channel] }
                    }
                }
            }
        }
    }
}

/// `Encoder`'s inference layers, made once per version of its stages (see `Encoder.stages`).
private final class InferenceLayers: @unchecked Sendable {
    private var layers: [(FusedConvolution, FusedConvolution)]?
    private let lock = NSLock()

    func layers(of stages: [EncoderStage]) -> [(FusedConvolution, FusedConvolution)] {
        lock.lock()
        defer { lock.unlock() }
        if let layers { return layers }
        let made = stages.map { stage in
            (FusedConvolution(stage.conv1, batchNorm: stage.bn1, rectified: true),
             FusedConvolution(stage.conv2, batchNorm: stage.bn2, rectified: true))
        }
        layers = made
        return made
    }
}

extension CaptioningModel {
    /// The BatchNorm layers that train (the small CNN's) sum their statistics over the ranks through
    /// `exchange` (synchronised BatchNorm in a data-parallel run); nil: each batch alone again.
    public mutating func synchronizeBatchNorm(through exchange: StatisticsExchange?) {
        for index in encoder.stages.indices {
            encoder.stages[index].bn1.statisticsExchange = exchange
            encoder.stages[index].bn2.statisticsExchange = exchange
        }
    }
}
