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

    public struct Gradients: Sendable {
        public var encoder: Encoder.Gradients
        public var decoder: Decoder.Gradients
        public var wordDetector: Linear.Gradients?
    }

    /// A model from existing parts (a checkpoint's); their shapes must fit `configuration`,
    /// and `wordDetector` is given exactly when the configuration has one.
    public init(configuration: ModelConfiguration, encoder: Encoder, decoder: Decoder, wordDetector: Linear? = nil) {
        precondition((wordDetector != nil) == configuration.hasWordDetector,
                     "a word detector goes with wordLossWeight > 0, and only then")
        self.configuration = configuration
        self.encoder = encoder
        self.encoder.positionFeatures = configuration.positionFeatures
        self.decoder = decoder
        self.wordDetector = wordDetector
    }

    /// A freshly initialised model (PyTorch's default initialisation for every layer).
    public init(configuration: ModelConfiguration, using generator: inout SeededGenerator) {
        self.configuration = configuration
        encoder = Encoder(configuration: configuration, using: &generator)
        decoder = Decoder(configuration: configuration, using: &generator)
        // Drawn after everything else, so models without the head initialise as before.
        wordDetector = configuration.hasWordDetector
            ? Linear(inputSize: configuration.featureSize, outputSize: configuration.vocabularySize, using: &generator)
            : nil
    }

    public var parameterPaths: [ParameterPath<CaptioningModel>] {
        let encoderPaths: [ParameterPath<CaptioningModel>] =
            encoder.parameterPaths.map { $0.nested(in: \.encoder, gradients: \.encoder, prefix: "encoder") }
        let decoderPaths: [ParameterPath<CaptioningModel>] =
            decoder.parameterPaths.map { $0.nested(in: \.decoder, gradients: \.decoder, prefix: "decoder") }
        guard let wordDetector else { return encoderPaths + decoderPaths }
        let detectorPaths: [ParameterPath<CaptioningModel>] =
            wordDetector.parameterPaths.map { $0.nested(in: \.wordDetector!, gradients: \.wordDetector!, prefix: "word_detector") }
        return encoderPaths + decoderPaths + detectorPaths
    }

    public var bufferPaths: [(name: String, buffer: WritableKeyPath<CaptioningModel, Tensor>)] {
        let encoderPath: WritableKeyPath<CaptioningModel, Encoder> = \.encoder
        return encoder.bufferPaths.map { (name: "encoder." + $0.name, buffer: encoderPath.appending(path: $0.buffer)) }
    }

    public func zeroGradients() -> Gradients {
        Gradients(encoder: encoder.zeroGradients(), decoder: decoder.zeroGradients(),
                  wordDetector: wordDetector?.zeroGradients())
    }

    /// Every tensor a checkpoint holds, by name: parameters, then buffers.
    public var namedTensorPaths: [(name: String, path: WritableKeyPath<CaptioningModel, Tensor>)] {
        parameterPaths.map { ($0.name, $0.parameter) } + bufferPaths.map { ($0.name, $0.buffer) }
    }

    /// The name and shape of every checkpoint tensor under `configuration`, in
    /// `namedTensorPaths` order, computed without building a model (so a checkpoint
    /// claiming enormous sizes is refused before anything is allocated for it).
    public static func expectedShapes(for configuration: ModelConfiguration) -> [(name: String, shape: [Int])] {
        let (v, e, a, h, d) = (configuration.vocabularySize, configuration.embeddingSize, configuration.attentionSize,
                               configuration.hiddenSize, configuration.featureSize)
        var parameters: [(name: String, shape: [Int])] = []
        var buffers: [(name: String, shape: [Int])] = []
        var inputChannels = 3
        for (index, channels) in configuration.stageChannels.enumerated() {
            let prefix = "encoder.stages.\(index)."
            for (layer, input) in [(1, inputChannels), (2, channels)] {
                parameters.append((prefix + "conv\(layer).weight", [channels, input, 3, 3]))
                parameters.append((prefix + "bn\(layer).weight", [channels]))
                parameters.append((prefix + "bn\(layer).bias", [channels]))
                buffers.append((prefix + "bn\(layer).running_mean", [channels]))
                buffers.append((prefix + "bn\(layer).running_var", [channels]))
            }
            inputChannels = channels
        }
        parameters += [
            ("decoder.embedding.weight", [v, e]),
            ("decoder.attention.encoder_att.weight", [a, d]), ("decoder.attention.encoder_att.bias", [a]),
            ("decoder.attention.decoder_att.weight", [a, h]), ("decoder.attention.decoder_att.bias", [a]),
            ("decoder.attention.full_att.weight", [1, a]), ("decoder.attention.full_att.bias", [1]),
            ("decoder.init_h.weight", [h, d]), ("decoder.init_h.bias", [h]),
            ("decoder.init_c.weight", [h, d]), ("decoder.init_c.bias", [h]),
            ("decoder.f_beta.weight", [d, h]), ("decoder.f_beta.bias", [d]),
            ("decoder.lstm.weight_ih", [4 * h, e + d]), ("decoder.lstm.weight_hh", [4 * h, h]),
            ("decoder.lstm.bias_ih", [4 * h]), ("decoder.lstm.bias_hh", [4 * h]),
            ("decoder.fc.weight", [v, h]), ("decoder.fc.bias", [v]),
        ]
        if configuration.hasWordDetector {
            parameters += [("word_detector.weight", [v, d]), ("word_detector.bias", [v])]
        }
        return parameters + buffers
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
