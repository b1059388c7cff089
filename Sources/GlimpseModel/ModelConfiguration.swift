/// The sizes of a Show, Attend and Tell model. A value of this type is always valid:
/// the initialiser and the decoder check it and throw `ModelConfigurationError`.
///
/// Shape letters used throughout GlimpseModel: N images, B caption rows, S image
/// side, g grid side, P = g² grid locations, D feature size, E embedding size,
/// A attention size, H hidden size, V vocabulary size, T time steps.
public struct ModelConfiguration: Codable, Equatable, Sendable {
    /// S: the side of the square input image, in pixels.
    public let imageSize: Int
    /// Output channels of each encoder stage; each stage halves the image side.
    public let stageChannels: [Int]
    /// E
    public let embeddingSize: Int
    /// A
    public let attentionSize: Int
    /// H
    public let hiddenSize: Int
    /// Dropout probability before the output layer (training only).
    public let dropout: Float
    /// λ: weight of the doubly stochastic attention penalty.
    public let attentionRegularization: Float
    /// V, special tokens included.
    public let vocabularySize: Int
    /// Whether each location's feature vector carries its grid coordinates: two more
    /// components, x and y from −1 (left, top) to 1 (right, bottom) at the cells' centres,
    /// after the encoder's channels. The attention's context then says where it looked
    /// (Σ_p α_p (x_p, y_p)), which convolution features alone tell only near the borders:
    /// "on the left", "above" (CoordConv, Liu et al. 2018). Off in models made before it.
    public let positionFeatures: Bool
    /// β: weight of the auxiliary word-detection loss (`WordDetection`), 0 for none. A model
    /// with β > 0 has the training-only head `word_detector` (D → V); captioning ignores it.
    /// Off (and not written) in models made before it.
    public let wordLossWeight: Float
    /// An ImageNet-trained ResNet in place of the small CNN (`stageChannels` is then empty): its
    /// architecture, grid, frozen weights' digest and the stages that train with the decoder, if
    /// any. Its weights travel in the checkpoint beside the decoder's. nil (and not written) for
    /// the small CNN.
    public let pretrainedEncoder: PretrainedEncoder?

    /// Which ResNet encodes the images, at what grid, and which weights (`ResNetWeights.digest`).
    public struct PretrainedEncoder: Codable, Equatable, Sendable {
        public let architecture: ResNetArchitecture
        /// g
        public let gridSize: Int
        /// 16 hex digits of the frozen weights (`ResNetWeights.digest(_:frozenBefore:)`): all of
        /// them, or the stem and the stages before `trainableFromStage`, which training never changes.
        public let digest: String
        /// The first of torchvision's stages (`layer1` … `layer4`: 1 … 4) that trains with the
        /// decoder (`--fine-tune-from-stage`), it and every later one; nil (and not written): all frozen.
        public let trainableFromStage: Int?

        public init(architecture: ResNetArchitecture, gridSize: Int, digest: String, trainableFromStage: Int? = nil) {
            self.architecture = architecture
            self.gridSize = gridSize
            self.digest = digest
            self.trainableFromStage = trainableFromStage
        }
    }

    public init(vocabularySize: Int, imageSize: Int = 128, stageChannels: [Int] = [32, 64, 128, 256],
                embeddingSize: Int = 128, attentionSize: Int = 128, hiddenSize: Int = 256,
                dropout: Float = 0.5, attentionRegularization: Float = 1,
                positionFeatures: Bool = false, wordLossWeight: Float = 0,
                pretrainedEncoder: PretrainedEncoder? = nil) throws(ModelConfigurationError) {
        self.vocabularySize = vocabularySize
        self.imageSize = imageSize
        self.stageChannels = stageChannels
        self.embeddingSize = embeddingSize
        self.attentionSize = attentionSize
        self.hiddenSize = hiddenSize
        self.dropout = dropout
        self.attentionRegularization = attentionRegularization
        self.positionFeatures = positionFeatures
        self.wordLossWeight = wordLossWeight
        self.pretrainedEncoder = pretrainedEncoder
        try validate()
    }

    /// g: the side of the feature grid, S / 2^stages for the small CNN.
    public var gridSize: Int { pretrainedEncoder?.gridSize ?? imageSize >> stageChannels.count }
    /// P = g²
    public var locationCount: Int { gridSize * gridSize }
    /// D: the size of a location's feature vector, the last stage's channels (plus 2
    /// coordinates with `positionFeatures`).
    public var featureSize: Int { encoderChannels + (positionFeatures ? 2 : 0) }
    /// The last stage's channels: the encoder's part of D.
    public var encoderChannels: Int { pretrainedEncoder?.architecture.featureSize ?? stageChannels.last ?? 0 }
    /// The number of encoder stages.
    public var stageCount: Int { stageChannels.count }

    private func validate() throws(ModelConfigurationError) {
        if let pretrainedEncoder {
            guard stageChannels.isEmpty else { throw .stagesWithPretrainedEncoder }
            guard pretrainedEncoder.gridSize >= 1 else { throw .nonPositive(field: "pretrainedEncoder.gridSize", value: pretrainedEncoder.gridSize) }
            guard imageSize >= 32 else { throw .imageTooSmallForResNet(imageSize) }
            if let stage = pretrainedEncoder.trainableFromStage, !(1...4).contains(stage) {
                throw .trainableStageOutOfRange(stage)
            }
        } else {
            guard !stageChannels.isEmpty else { throw .noStages }
        }
        if let bad = stageChannels.firstIndex(where: { $0 <= 0 }) {
            throw .nonPositive(field: "stageChannels[\(bad)]", value: stageChannels[bad])
        }
        for (field, value) in [("imageSize", imageSize), ("embeddingSize", embeddingSize),
                               ("attentionSize", attentionSize), ("hiddenSize", hiddenSize)] where value <= 0 {
            throw .nonPositive(field: field, value: value)
        }
        guard stageChannels.count < 31, pretrainedEncoder != nil || imageSize % (1 << stageChannels.count) == 0 else {
            throw .imageSizeNotDivisible(imageSize: imageSize, stages: stageChannels.count)
        }
        guard vocabularySize >= 4 else { throw .vocabularyTooSmall(vocabularySize) }
        guard dropout >= 0 && dropout < 1 else { throw .dropoutOutOfRange(dropout) }
        guard attentionRegularization >= 0 && attentionRegularization.isFinite else {
            throw .negativeRegularization(attentionRegularization)
        }
        guard wordLossWeight >= 0 && wordLossWeight.isFinite else { throw .negativeWordLossWeight(wordLossWeight) }
    }

    /// Whether the model has the word-detection head (β > 0).
    public var hasWordDetector: Bool { wordLossWeight > 0 }

    private enum CodingKeys: String, CodingKey {
        case imageSize, stageChannels, embeddingSize, attentionSize, hiddenSize, dropout,
             attentionRegularization, vocabularySize, positionFeatures, wordLossWeight, pretrainedEncoder
    }

    /// `positionFeatures`, `wordLossWeight` and `pretrainedEncoder` are written only when on, so that files of models without it are
    /// byte for byte what they were before it existed.
    public func encode(to encoder: any Swift.Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(imageSize, forKey: .imageSize)
        try container.encode(stageChannels, forKey: .stageChannels)
        try container.encode(embeddingSize, forKey: .embeddingSize)
        try container.encode(attentionSize, forKey: .attentionSize)
        try container.encode(hiddenSize, forKey: .hiddenSize)
        try container.encode(dropout, forKey: .dropout)
        try container.encode(attentionRegularization, forKey: .attentionRegularization)
        try container.encode(vocabularySize, forKey: .vocabularySize)
        if positionFeatures { try container.encode(true, forKey: .positionFeatures) }
        if wordLossWeight > 0 { try container.encode(wordLossWeight, forKey: .wordLossWeight) }
        if let pretrainedEncoder { try container.encode(pretrainedEncoder, forKey: .pretrainedEncoder) }
    }

    /// Decodes and validates; an invalid configuration is a `DecodingError.dataCorrupted`
    /// whose underlying error is the `ModelConfigurationError`.
    public init(from decoder: any Swift.Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        do {
            try self.init(vocabularySize: container.decode(Int.self, forKey: .vocabularySize),
                          imageSize: container.decode(Int.self, forKey: .imageSize),
                          stageChannels: container.decode([Int].self, forKey: .stageChannels),
                          embeddingSize: container.decode(Int.self, forKey: .embeddingSize),
                          attentionSize: container.decode(Int.self, forKey: .attentionSize),
                          hiddenSize: container.decode(Int.self, forKey: .hiddenSize),
                          dropout: container.decode(Float.self, forKey: .dropout),
                          attentionRegularization: container.decode(Float.self, forKey: .attentionRegularization),
                          positionFeatures: container.decodeIfPresent(Bool.self, forKey: .positionFeatures) ?? false,
                          wordLossWeight: container.decodeIfPresent(Float.self, forKey: .wordLossWeight) ?? 0,
                          pretrainedEncoder: container.decodeIfPresent(PretrainedEncoder.self, forKey: .pretrainedEncoder))
        } catch let error as ModelConfigurationError {
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: decoder.codingPath, debugDescription: error.description, underlyingError: error))
        }
    }
}

/// Why a model configuration is invalid.
public enum ModelConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    case noStages
    case nonPositive(field: String, value: Int)
    /// Every stage halves the image, so S must be a multiple of 2^stages.
    case imageSizeNotDivisible(imageSize: Int, stages: Int)
    /// The four special tokens alone need V ≥ 4.
    case vocabularyTooSmall(Int)
    case dropoutOutOfRange(Float)
    case negativeRegularization(Float)
    case negativeWordLossWeight(Float)
    /// A pretrained ResNet replaces the small CNN's stages; a configuration has one or the other.
    case stagesWithPretrainedEncoder
    /// A ResNet halves the image five times: S must be at least 32.
    case imageTooSmallForResNet(Int)
    /// A ResNet's stages are `layer1` … `layer4`.
    case trainableStageOutOfRange(Int)

    public var description: String {
        switch self {
        case .noStages: return "the encoder needs at least one stage"
        case .nonPositive(let field, let value): return "\(field) must be positive, got \(value)"
        case .imageSizeNotDivisible(let imageSize, let stages):
            return "image size \(imageSize) is not divisible by 2^\(stages) (one halving per encoder stage)"
        case .vocabularyTooSmall(let size): return "vocabulary size \(size) is below the 4 special tokens"
        case .dropoutOutOfRange(let value): return "dropout must be in [0, 1), got \(value)"
        case .negativeRegularization(let value): return "attention regularisation must be finite and ≥ 0, got \(value)"
        case .negativeWordLossWeight(let value): return "the word-detection loss weight must be finite and ≥ 0, got \(value)"
        case .stagesWithPretrainedEncoder: return "a model with a pretrained encoder has no encoder stages of its own"
        case .imageTooSmallForResNet(let size): return "a ResNet encoder needs images of at least 32 pixels, got \(size)"
        case .trainableStageOutOfRange(let stage): return "a ResNet's stages are 1 to 4 (layer1 … layer4), got \(stage)"
        }
    }
}
