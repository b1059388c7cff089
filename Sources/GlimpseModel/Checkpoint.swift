import Foundation
import GlimpseText
import GlimpseImage
import GlimpseLayers
import GlimpseSafeTensors
import GlimpseTensor

/// Why a checkpoint or training-state file could not be read or written. Names the
/// file and, where one is involved, the tensor or metadata key.
public struct CheckpointError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        /// The safetensors layer refused the file (unreadable, malformed, write failed);
        /// its message.
        case file(String)
        /// A tensor the configuration needs is absent.
        case missingTensor(String)
        /// A tensor the configuration does not know.
        case unexpectedTensor(String)
        case wrongShape(tensor: String, expected: [Int], found: [Int])
        /// Stored in a type that is not a float type.
        case wrongDType(tensor: String, found: String)
        case missingMetadata(key: String)
        /// A metadata value that does not parse or is inconsistent.
        case badMetadata(key: String, problem: String)
        case unsupportedFormat(found: String)
        case unsupportedFormatVersion(found: String, supported: Int)
        /// The stored vocabulary's length is not the configuration's V.
        case vocabularySizeMismatch(vocabulary: Int, configuration: Int)
        /// A plain state dict: this tensor's shape cannot tell a size of the model.
        case cannotInferConfiguration(tensor: String, problem: String)
        /// The sizes read from a plain state dict, with the options given, are no valid model.
        case invalidConfiguration(String)
        /// A weight or statistic is NaN or infinite (a diverged run's weights): such a model
        /// captions every image with nothing.
        case nonFinite(tensor: String, index: Int, value: Float)
        /// The weights are of another network than the one asked for (a ResNet-50 state dict
        /// given as ResNet-18, say); `found` describes what they are.
        case wrongArchitecture(expected: String, found: String)
    }

    public let path: String
    public let reason: Reason

    public init(path: String, reason: Reason) {
        self.path = path
        self.reason = reason
    }

    public var description: String {
        let detail: String
        switch reason {
        case .file(let message): detail = message
        case .missingTensor(let name): detail = "missing tensor \(name)"
        case .unexpectedTensor(let name): detail = "unexpected tensor \(name) (not part of this model)"
        case .wrongShape(let name, let expected, let found): detail = "tensor \(name) has shape \(found), expected \(expected)"
        case .wrongDType(let name, let found): detail = "tensor \(name) is \(found), expected a float type"
        case .nonFinite(let name, let index, let value):
            detail = "tensor \(name) holds \(value) at element \(index): the weights are not finite (a diverged run?)"
        case .missingMetadata(let key): detail = "metadata \(key) is missing"
        case .badMetadata(let key, let problem): detail = "metadata \(key) is invalid: \(problem)"
        case .unsupportedFormat(let found): detail = "not a Glimpse file (format \"\(found)\")"
        case .unsupportedFormatVersion(let found, let supported):
            detail = "format version \(found) is not supported (this build reads version \(supported))"
        case .vocabularySizeMismatch(let vocabulary, let configuration):
            detail = "the vocabulary has \(vocabulary) tokens but the configuration says V = \(configuration)"
        case .cannotInferConfiguration(let name, let problem): detail = "tensor \(name): \(problem)"
        case .invalidConfiguration(let problem): detail = "not a valid model: \(problem)"
        case .wrongArchitecture(let expected, let found): detail = "these are the weights of \(found), not \(expected)"
        }
        return "\(path): \(detail)"
    }
}

/// Everything needed to caption with a model, in one safetensors file: the weights
/// under their PyTorch-style names (layouts as PyTorch's), and in `__metadata__`
/// the configuration, the vocabulary, the preprocessing and a format version.
public struct Checkpoint: Sendable {
    public var model: CaptioningModel
    public var vocabulary: Vocabulary
    public var preprocessing: Preprocessing
    /// What the encoder's features of the training images look like, for flagging images unlike
    /// them (`FeatureSummary`); nil in files written before it existed, or never given one.
    public var featureSummary: FeatureSummary?
    /// Why the file's feature summary was not loaded, when it has one that is bad: the model is
    /// still usable, only not able to tell unfamiliar images (and `glimpse calibrate` can give it
    /// a new summary).
    public var featureSummaryProblem: CheckpointError?

    /// Written in `__metadata__["format"]`.
    public static let format = "glimpse-show-attend-tell"
    /// The version this build writes and reads.
    public static let formatVersion = 1

    /// Metadata keys.
    public enum MetadataKey {
        public static let format = "format"
        public static let formatVersion = "format_version"
        /// `ModelConfiguration` as JSON.
        public static let configuration = "configuration"
        /// The tokens in id order, a JSON array of strings.
        public static let vocabulary = "vocabulary"
        /// `Preprocessing` as JSON: imageSize, mean, std.
        public static let preprocessing = "preprocessing"
        /// `FeatureSummary.Calibration` as JSON, when the model has a feature summary.
        public static let featureSummary = "feature_summary"
    }

    public init(model: CaptioningModel, vocabulary: Vocabulary, preprocessing: Preprocessing,
                featureSummary: FeatureSummary? = nil) {
        precondition(vocabulary.count == model.configuration.vocabularySize,
                     "vocabulary of \(vocabulary.count) tokens for a model with V = \(model.configuration.vocabularySize)")
        precondition(preprocessing.imageSize == model.configuration.imageSize,
                     "preprocessing image size \(preprocessing.imageSize) differs from the model's \(model.configuration.imageSize)")
        self.model = model
        self.vocabulary = vocabulary
        self.preprocessing = preprocessing
        if let featureSummary {
            precondition(featureSummary.featureSize == model.configuration.featureSize,
                         "a feature summary of D = \(featureSummary.featureSize) for a model with D = \(model.configuration.featureSize)")
        }
        self.featureSummary = featureSummary
    }

    /// Writes the checkpoint atomically (temporary file, fsync, rename).
    public func write(to path: String) throws(CheckpointError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var metadata: [String: String]
        do {
            metadata = [
                MetadataKey.format: Checkpoint.format,
                MetadataKey.formatVersion: String(Checkpoint.formatVersion),
                MetadataKey.configuration: String(decoding: try encoder.encode(model.configuration), as: UTF8.self),
                MetadataKey.vocabulary: String(decoding: try encoder.encode(vocabulary.tokens), as: UTF8.self),
                MetadataKey.preprocessing: String(decoding: try encoder.encode(preprocessing), as: UTF8.self),
            ]
            if let featureSummary {
                metadata[MetadataKey.featureSummary] = String(decoding: try encoder.encode(featureSummary.calibration), as: UTF8.self)
            }
        } catch {
            throw CheckpointError(path: path, reason: .badMetadata(key: "configuration", problem: "\(error)"))
        }
        do {
            let tensors = model.namedTensors().merging(model.pretrainedEncoderTensors) { first, _ in first }
                .merging(featureSummary?.namedTensors ?? [:]) { first, _ in first }
            try SafeTensorsWriter.write(tensors, metadata: metadata, to: path)
        } catch {
            throw CheckpointError(path: path, reason: .file(error.reasonDescription))
        }
    }

    /// Reads and checks a checkpoint: metadata first, then every tensor name and shape
    /// against the configuration; the first mismatch is reported by name.
    public init(contentsOf path: String) throws(CheckpointError) {
        let file: SafeTensorsFile
        do {
            file = try SafeTensorsFile(contentsOf: path)
        } catch {
            throw CheckpointError(path: path, reason: .file(Checkpoint.describeUnreadable(error)))
        }
        try self.init(file: file)
    }

    /// The safetensors layer's reason, led by what it means for a model: a file whose first bytes
    /// begin no safetensors header at all (an image or a text given as `--model`) is "not a
    /// safetensors model file", rather than a header length read from its first 8 bytes.
    static func describeUnreadable(_ error: SafeTensorsError) -> String {
        switch error.reason {
        case .headerTooLarge, .headerNotUTF8, .headerNotObject, .invalidJSON(byteOffset: 0, _):
            return "not a safetensors model file (\(error.reasonDescription))"
        case .headerBeyondEnd:
            return "not a safetensors model file, or one cut short (\(error.reasonDescription))"
        default:
            return error.reasonDescription
        }
    }

    /// Checks and loads an already-read file.
    public init(file: SafeTensorsFile) throws(CheckpointError) {
        let path = file.path
        func fail(_ reason: CheckpointError.Reason) -> CheckpointError { CheckpointError(path: path, reason: reason) }
        func value(_ key: String) throws(CheckpointError) -> String {
            guard let value = file.metadata[key] else { throw fail(.missingMetadata(key: key)) }
            return value
        }
        let format = try value(MetadataKey.format)
        guard format == Checkpoint.format else { throw fail(.unsupportedFormat(found: format)) }
        let version = try value(MetadataKey.formatVersion)
        guard Int(version) == Checkpoint.formatVersion else {
            throw fail(.unsupportedFormatVersion(found: version, supported: Checkpoint.formatVersion))
        }
        let decoder = JSONDecoder()
        let configuration: ModelConfiguration
        do {
            configuration = try decoder.decode(ModelConfiguration.self, from: Data(try value(MetadataKey.configuration).utf8))
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw fail(.badMetadata(key: MetadataKey.configuration, problem: Checkpoint.describe(error)))
        }
        let vocabulary: Vocabulary
        do {
            let tokens = try decoder.decode([String].self, from: Data(try value(MetadataKey.vocabulary).utf8))
            vocabulary = try Vocabulary(tokens: tokens)
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw fail(.badMetadata(key: MetadataKey.vocabulary, problem: Checkpoint.describe(error)))
        }
        guard vocabulary.count == configuration.vocabularySize else {
            throw fail(.vocabularySizeMismatch(vocabulary: vocabulary.count, configuration: configuration.vocabularySize))
        }
        let preprocessing: Preprocessing
        do {
            preprocessing = try decoder.decode(Preprocessing.self, from: Data(try value(MetadataKey.preprocessing).utf8))
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw fail(.badMetadata(key: MetadataKey.preprocessing, problem: Checkpoint.describe(error)))
        }
        guard preprocessing.imageSize == configuration.imageSize, preprocessing.mean.count == 3,
              preprocessing.std.count == 3, preprocessing.std.allSatisfy({ $0 > 0 }) else {
            throw fail(.badMetadata(key: MetadataKey.preprocessing,
                                    problem: "image size \(preprocessing.imageSize) (the model's is \(configuration.imageSize)), "
                                        + "mean \(preprocessing.mean), std \(preprocessing.std)"))
        }
        var featureSummary: FeatureSummary?
        var featureSummaryProblem: CheckpointError?
        do { featureSummary = try Checkpoint.featureSummary(in: file, configuration: configuration) } catch {
            featureSummaryProblem = error
        }
        let model = try CaptioningModel(configuration: configuration, tensorsFrom: file)
        let expected = Set(ParameterTable(configuration: configuration).entries.map(\.name))
            .union(configuration.pretrainedEncoder.map {
                ResNetWeights.foldedNames($0.architecture, prefix: CaptioningModel.pretrainedEncoderPrefix)
            } ?? [])
            .union([FeatureSummary.TensorName.mean, FeatureSummary.TensorName.whitening])
        if let unexpected = file.names.first(where: { !expected.contains($0) }) {
            throw fail(.unexpectedTensor(unexpected))
        }
        self.model = model
        self.vocabulary = vocabulary
        self.preprocessing = preprocessing
        self.featureSummary = featureSummary
        self.featureSummaryProblem = featureSummaryProblem
    }

    /// The file's feature summary (its calibration in the metadata, μ and W as tensors), checked
    /// against the configuration; nil when it has none.
    static func featureSummary(in file: SafeTensorsFile, configuration: ModelConfiguration) throws(CheckpointError) -> FeatureSummary? {
        let names = FeatureSummary.TensorName.self
        guard let text = file.metadata[MetadataKey.featureSummary] else {
            if let stray = [names.mean, names.whitening].first(where: { file.entry(named: $0) != nil }) {
                throw CheckpointError(path: file.path, reason: .unexpectedTensor(stray))
            }
            return nil
        }
        let calibration: FeatureSummary.Calibration
        do {
            calibration = try JSONDecoder().decode(FeatureSummary.Calibration.self, from: Data(text.utf8))
        } catch {
            throw CheckpointError(path: file.path, reason: .badMetadata(key: MetadataKey.featureSummary, problem: Checkpoint.describe(error)))
        }
        guard calibration.threshold.isFinite, calibration.threshold >= 0 else {
            throw CheckpointError(path: file.path, reason: .badMetadata(
                key: MetadataKey.featureSummary, problem: "threshold \(calibration.threshold) is not a distance"))
        }
        let size = configuration.featureSize
        func read(_ name: String, shape: [Int]) throws(CheckpointError) -> [Float] {
            guard let stored = file.entry(named: name) else { throw CheckpointError(path: file.path, reason: .missingTensor(name)) }
            guard stored.shape == shape else {
                throw CheckpointError(path: file.path, reason: .wrongShape(tensor: name, expected: shape, found: stored.shape))
            }
            let values: [Float]
            do { values = try file.floats(named: name).values } catch {
                throw CheckpointError(path: file.path, reason: .file(error.reasonDescription))
            }
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw CheckpointError(path: file.path, reason: .nonFinite(tensor: name, index: bad, value: values[bad]))
            }
            return values
        }
        return FeatureSummary(mean: try read(names.mean, shape: [size]), whitening: try read(names.whitening, shape: [size, size]),
                              calibration: calibration)
    }

    static func describe(_ error: any Error) -> String {
        if let decoding = error as? DecodingError {
            switch decoding {
            case .dataCorrupted(let context): return context.debugDescription
            case .keyNotFound(let key, _): return "no \(key.stringValue)"
            case .typeMismatch(_, let context), .valueNotFound(_, let context):
                return "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
            @unknown default: return "\(decoding)"
            }
        }
        return "\(error)"
    }
}

extension CaptioningModel {
    /// Every parameter and buffer by checkpoint name, as float32 arrays in PyTorch's layouts.
    public func namedTensors(prefix: String = "") -> [String: ShapedArray<Float>] {
        var tensors: [String: ShapedArray<Float>] = [:]
        for (name, path) in namedTensorPaths {
            let tensor = self[keyPath: path]
            tensors[prefix + name] = ShapedArray(shape: tensor.shape, values: tensor.scalars)
        }
        return tensors
    }

    /// A model of `configuration` whose every parameter and buffer is read from `file`
    /// under `prefix + name`. Checks every name and shape (in `expectedShapes` order)
    /// before allocating anything and throws at the first mismatch; tensors the model
    /// does not use are not looked at.
    public init(configuration: ModelConfiguration, tensorsFrom file: SafeTensorsFile,
                prefix: String = "") throws(CheckpointError) {
        try self.init(configuration: configuration, tensorsFrom: file, storedName: { prefix + $0.name })
    }

    /// As above, each tensor read under `storedName(entry)`.
    init(configuration: ModelConfiguration, tensorsFrom file: SafeTensorsFile,
         storedName: (ParameterTable<CaptioningModel>.Entry) -> String) throws(CheckpointError) {
        let entries = ParameterTable(configuration: configuration).entries
        for entry in entries {
            let storedName = storedName(entry), expected = entry.shape(in: configuration)
            guard let stored = file.entry(named: storedName) else {
                throw CheckpointError(path: file.path, reason: .missingTensor(storedName))
            }
            guard stored.shape == expected else {
                throw CheckpointError(path: file.path, reason: .wrongShape(tensor: storedName, expected: expected, found: stored.shape))
            }
            guard SafeTensorsDType.floatingPoint.contains(stored.dtype) else {
                throw CheckpointError(path: file.path, reason: .wrongDType(tensor: storedName, found: stored.dtype.rawValue))
            }
        }
        // Every shape is now backed by the file's bytes, which bounds what this allocates.
        // Each tensor is decoded once, straight into its storage (all of them in one arena on
        // huge pages), and the layers are built around them: no random initialisation to throw
        // away, no intermediate arrays.
        let arena = TensorArena(counts: entries.map { Tensor.count(of: $0.shape(in: configuration)) })
        var tensors: [WritableKeyPath<CaptioningModel, Tensor>: Tensor] = [:]
        for entry in entries {
            var failure: SafeTensorsError?
            let tensor = arena.tensor(shape: entry.shape(in: configuration)) { storage in
                do throws(SafeTensorsError) { try file.decodeFloats(named: storedName(entry), into: storage) } catch { failure = error }
            }
            if let failure { throw CheckpointError(path: file.path, reason: .file(failure.reasonDescription)) }
            if let bad = tensor.withUnsafeBufferPointer({ $0.firstIndex { !$0.isFinite } }) {
                throw CheckpointError(path: file.path, reason: .nonFinite(tensor: entry.name, index: bad, value: tensor[flat: bad]))
            }
            tensors[entry.tensor] = tensor
        }
        // Each layer from its tensors, found by the key paths the table gives them: present by
        // construction (CheckpointTests pins the table to the model built from a configuration).
        func take<Layer>(_ layer: WritableKeyPath<CaptioningModel, Layer>, _ tensor: WritableKeyPath<Layer, Tensor>) -> Tensor {
            tensors[layer.appending(path: tensor)]!
        }
        func linear(_ layer: WritableKeyPath<CaptioningModel, Linear>) -> Linear {
            Linear(weight: take(layer, \.weight), bias: take(layer, \.bias!))
        }
        func batchNorm(_ layer: WritableKeyPath<CaptioningModel, BatchNorm2d>) -> BatchNorm2d {
            BatchNorm2d(weight: take(layer, \.weight), bias: take(layer, \.bias),
                        runningMean: take(layer, \.runningMean), runningVariance: take(layer, \.runningVariance))
        }
        let stages = configuration.stageChannels.indices.map { index in
            let stage: WritableKeyPath<CaptioningModel, EncoderStage> = \.encoder.stages[index]
            return EncoderStage(conv1: Conv2d(weight: take(stage.appending(path: \.conv1), \.weight)),
                                bn1: batchNorm(stage.appending(path: \.bn1)),
                                conv2: Conv2d(weight: take(stage.appending(path: \.conv2), \.weight)),
                                bn2: batchNorm(stage.appending(path: \.bn2)))
        }
        let attention = SoftAttention(encoderAttention: linear(\.decoder.attention.encoderAttention),
                                      decoderAttention: linear(\.decoder.attention.decoderAttention),
                                      fullAttention: linear(\.decoder.attention.fullAttention),
                                      gate: linear(\.decoder.attention.gate))
        let lstm: WritableKeyPath<CaptioningModel, LSTMCell> = \.decoder.lstm
        let decoder = Decoder(embedding: Embedding(weight: take(\.decoder.embedding, \.weight)), attention: attention,
                              initialHidden: linear(\.decoder.initialHidden), initialCell: linear(\.decoder.initialCell),
                              lstm: LSTMCell(inputWeight: take(lstm, \.inputWeight), recurrentWeight: take(lstm, \.recurrentWeight),
                                             inputBias: take(lstm, \.inputBias), recurrentBias: take(lstm, \.recurrentBias)),
                              output: linear(\.decoder.output),
                              dropout: Dropout(probability: configuration.dropout))
        self.init(configuration: configuration, encoder: Encoder(stages: stages), decoder: decoder,
                  wordDetector: configuration.hasWordDetector ? linear(\.wordDetector!) : nil,
                  pretrainedEncoder: try Self.pretrainedEncoder(of: configuration, in: file))
    }

    /// The configuration's pretrained encoder from `file` (under `pretrainedEncoderPrefix`), its
    /// weights checked against the configuration's digest; nil for the small CNN.
    static func pretrainedEncoder(of configuration: ModelConfiguration, in file: SafeTensorsFile)
        throws(CheckpointError) -> ResNetEncoder? {
        guard let expected = configuration.pretrainedEncoder else { return nil }
        let encoder = try ResNetWeights.readFolded(file, prefix: pretrainedEncoderPrefix,
                                                   architecture: expected.architecture, gridSize: expected.gridSize)
        let digest = ResNetWeights.digest(encoder, frozenBefore: expected.trainableFromStage)
        guard digest == expected.digest else {
            let which = expected.trainableFromStage == nil ? "weights" : "frozen weights"
            throw CheckpointError(path: file.path, reason: .badMetadata(
                key: "configuration", problem: "the encoder's \(which) have digest \(digest), the configuration says \(expected.digest)"))
        }
        return encoder
    }

    /// Where a checkpoint keeps a pretrained encoder's folded convolutions:
    /// `image_encoder.conv1.weight`, `image_encoder.layer1.0.conv1.bias`, …
    public static let pretrainedEncoderPrefix = "image_encoder."

    /// The pretrained encoder's tensors as a checkpoint stores them, the trained stages as they
    /// are now (none for the small CNN).
    public var pretrainedEncoderTensors: [String: ShapedArray<Float>] {
        guard var tensors = pretrainedEncoder.map({ ResNetWeights.foldedTensors($0, prefix: CaptioningModel.pretrainedEncoderPrefix) })
        else { return [:] }
        for path in parameterPaths where path.name.hasPrefix(CaptioningModel.pretrainedEncoderPrefix) {
            let tensor = self[keyPath: path.parameter]
            tensors[path.name] = ShapedArray(shape: tensor.shape, values: tensor.scalars)
        }
        return tensors
    }
}
