import GlimpseLayers
import GlimpseTensor

/// Show, Attend and Tell (Xu et al. 2015): a CNN `Encoder` and an attention LSTM
/// `Decoder`. Parameters and buffers carry PyTorch-style names (`encoder.…`,
/// `decoder.…`), which are the checkpoint's tensor names.
public struct CaptioningModel: Parameterized, Sendable {
    public let configuration: ModelConfiguration
    public var encoder: Encoder
    public var decoder: Decoder
    /// `word_detector`, D → V: the training-only head of the word-detection loss
    /// (`WordDetection`), present exactly when `configuration.hasWordDetector`.
    public var wordDetector: Linear?
    /// The ImageNet ResNet that encodes the images in place of `encoder` (which then has no
    /// stages), present exactly when `configuration.pretrainedEncoder` names it. Not a
    /// parameter: its stages that train are `encoderTail`'s, which supersede them here.
    public let pretrainedEncoder: ResNetEncoder?
    /// The pretrained encoder's stages from `configuration.pretrainedEncoder.trainableFromStage`
    /// on, trained with the decoder; parameters `image_encoder.layerS.B.convK.weight`, ….
    public var encoderTail: ResNetTail?

    public struct Gradients: Sendable {
        public var encoder: Encoder.Gradients
        public var decoder: Decoder.Gradients
        public var wordDetector: Linear.Gradients?
        public var encoderTail: ResNetTail.Gradients?
    }

    /// A model from existing parts (a checkpoint's); their shapes must fit `configuration`,
    /// and `wordDetector` is given exactly when the configuration has one.
    public init(configuration: ModelConfiguration, encoder: Encoder, decoder: Decoder, wordDetector: Linear? = nil,
                pretrainedEncoder: ResNetEncoder? = nil) {
        precondition((wordDetector != nil) == configuration.hasWordDetector,
                     "a word detector goes with wordLossWeight > 0, and only then")
        CaptioningModel.checkPretrained(pretrainedEncoder, configuration)
        precondition(encoder.stages.count == configuration.stageCount,
                     "\(encoder.stages.count) encoder stages for a configuration of \(configuration.stageCount)")
        self.configuration = configuration
        self.encoder = encoder
        self.encoder.positionFeatures = configuration.positionFeatures
        self.decoder = decoder
        self.wordDetector = wordDetector
        self.pretrainedEncoder = pretrainedEncoder
        encoderTail = CaptioningModel.tail(of: pretrainedEncoder, configuration)
    }

    /// A freshly initialised model (PyTorch's default initialisation for every layer);
    /// `pretrainedEncoder` is given exactly when the configuration names one.
    public init(configuration: ModelConfiguration, pretrainedEncoder: ResNetEncoder? = nil,
                using generator: inout SeededGenerator) {
        CaptioningModel.checkPretrained(pretrainedEncoder, configuration)
        self.configuration = configuration
        self.pretrainedEncoder = pretrainedEncoder
        encoder = Encoder(configuration: configuration, using: &generator)
        decoder = Decoder(configuration: configuration, using: &generator)
        // Drawn after everything else, so models without the head initialise as before.
        wordDetector = configuration.hasWordDetector
            ? Linear(inputSize: configuration.featureSize, outputSize: configuration.vocabularySize, using: &generator)
            : nil
        encoderTail = CaptioningModel.tail(of: pretrainedEncoder, configuration)
    }

    /// The stages of `encoder` that train, as the configuration says.
    private static func tail(of encoder: ResNetEncoder?, _ configuration: ModelConfiguration) -> ResNetTail? {
        guard let encoder, let stage = configuration.pretrainedEncoder?.trainableFromStage else { return nil }
        return ResNetTail(encoder, fromStage: stage)
    }

    /// The encoder's architecture and grid against the configuration's (its digest is checked
    /// where weights are read: `Checkpoint`, the training's set-up).
    private static func checkPretrained(_ encoder: ResNetEncoder?, _ configuration: ModelConfiguration) {
        switch (encoder, configuration.pretrainedEncoder) {
        case (nil, nil): return
        case let (encoder?, expected?):
            precondition(encoder.architecture == expected.architecture && encoder.gridSize == expected.gridSize,
                         "a \(encoder.architecture) encoder at g = \(encoder.gridSize) for a configuration of \(expected)")
        default:
            preconditionFailure("a pretrained encoder goes with configuration.pretrainedEncoder, and only then")
        }
    }

    /// Every tensor's names, shape and place (`ParameterTable`): the source of the paths below.
    public var parameterTable: ParameterTable<CaptioningModel> { ParameterTable(configuration: configuration) }

    /// The table's parameters, then the encoder tail's (`image_encoder.…`), when it trains.
    public var parameterPaths: [ParameterPath<CaptioningModel>] {
        parameterTable.parameterPaths
            + (encoderTail?.parameterPaths(nestedIn: \.encoderTail!, gradients: \.encoderTail!,
                                           prefix: String(CaptioningModel.pretrainedEncoderPrefix.dropLast())) ?? [])
    }

    public var bufferPaths: [(name: String, buffer: WritableKeyPath<CaptioningModel, Tensor>)] { parameterTable.bufferPaths }

    public func zeroGradients() -> Gradients {
        Gradients(encoder: encoder.zeroGradients(), decoder: decoder.zeroGradients(),
                  wordDetector: wordDetector?.zeroGradients(), encoderTail: encoderTail?.zeroGradients())
    }

    /// Every tensor a checkpoint holds, by name: parameters, then buffers.
    public var namedTensorPaths: [(name: String, path: WritableKeyPath<CaptioningModel, Tensor>)] {
        parameterTable.entries.map { ($0.name, $0.tensor) }
    }

    /// The name and shape of every checkpoint tensor under `configuration`, in
    /// `namedTensorPaths` order, computed without building a model (so a checkpoint
    /// claiming enormous sizes is refused before anything is allocated for it).
    public static func expectedShapes(for configuration: ModelConfiguration) -> [(name: String, shape: [Int])] {
        ParameterTable(configuration: configuration).entries.map { ($0.name, $0.shape(in: configuration)) }
    }
}

// MARK: Row gathering

extension Tensor {
    /// Entries `indices` along the first axis, in that order (repeats allowed): per-image
    /// tensors gathered into per-caption rows.
    func gatheringRows<Indices: Collection>(_ indices: Indices) -> Tensor where Indices.Element == Int {
        var resultShape = shape
        resultShape[0] = indices.count
        let width = shape.dropFirst().reduce(1, *), count = shape[0]
        return Tensor(shape: resultShape) { target in
            withUnsafeBufferPointer { source in
                for (row, index) in indices.enumerated() {
                    precondition(index >= 0 && index < count, "row \(index) out of range 0..<\(count)")
                    (target.baseAddress! + row * width).update(from: source.baseAddress! + index * width, count: width)
                }
            }
        }
    }

    /// self[indices[r]] += source[r] for every row r of `source`: the adjoint of `gatheringRows`.
    mutating func scatterAddRows<Indices: Collection>(_ source: Tensor, to indices: Indices) where Indices.Element == Int {
        let width = shape.dropFirst().reduce(1, *)
        precondition(source.shape[0] == indices.count && source.shape.dropFirst().elementsEqual(shape.dropFirst()),
                     "scatterAddRows: \(source.shape) into \(shape) at \(indices.count) rows")
        source.withUnsafeBufferPointer { source in
            withUnsafeMutableBufferPointer { target in
                for (row, index) in indices.enumerated() {
                    BLAS.saxpy(count: width, alpha: 1, x: source.baseAddress! + row * width,
                               y: target.baseAddress! + index * width)
                }
            }
        }
    }

    /// self[0..<source.rows] += source: a later step's state gradient, for the rows
    /// still active then, onto this step's.
    mutating func addIntoLeadingRows(_ source: Tensor) {
        precondition(source.shape[0] <= shape[0] && source.shape.dropFirst().elementsEqual(shape.dropFirst()),
                     "addIntoLeadingRows: \(source.shape) into \(shape)")
        source.withUnsafeBufferPointer { source in
            withUnsafeMutableBufferPointer { target in
                BLAS.saxpy(count: source.count, alpha: 1, x: source.baseAddress!, y: target.baseAddress!)
            }
        }
    }

    /// The index of the largest entry of each row of a matrix (the first of equal maxima).
    func rowArgmax(rows: Int) -> [Int] {
        let width = shape[1]
        return withUnsafeBufferPointer { values in
            var result = [Int](repeating: 0, count: rows)
            for row in 0..<rows {
                let start = values.baseAddress! + row * width
                var best = 0
                for index in 1..<width where start[index] > start[best] { best = index }
                result[row] = best
            }
            return result
        }
    }
}
