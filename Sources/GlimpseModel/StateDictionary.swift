import GlimpseText
import GlimpseImage
import GlimpseSafeTensors
import GlimpseTensor

/// Conversion between Glimpse checkpoints and plain PyTorch state dicts of the
/// equivalent module (`Scripts/reference_model.py`): the same tensor names and layouts,
/// no metadata needed, plus PyTorch's BatchNorm `num_batches_tracked` counters.
///
/// Importing reads the configuration from the shapes of the tensors `ParameterTable` marks as
/// telling a size: the stage count and channels from `encoder.stages.N.conv1.weight`
/// [C, C_in, 3, 3], E from `decoder.embedding.weight` [V, E], A and D from
/// `decoder.attention.encoder_att.weight` [A, D], H from `decoder.init_h.weight` [H, D] and V
/// from `decoder.fc.weight` [V, H]; every other tensor is then checked against those sizes.
/// What shapes cannot tell (S, dropout, λ, normalisation) comes from `ImportOptions`.
public enum StateDictionary {
    /// The settings a state dict's shapes cannot tell, with Glimpse's defaults.
    public struct ImportOptions: Sendable, Equatable {
        /// S, in pixels.
        public var imageSize: Int
        public var dropout: Float
        /// λ
        public var attentionRegularization: Float
        /// Per-channel normalisation of the input, RGB.
        public var mean: [Float]
        public var std: [Float]

        public init(imageSize: Int = 128, dropout: Float = 0.5, attentionRegularization: Float = 1,
                    mean: [Float] = Preprocessing.imageNetMean, std: [Float] = Preprocessing.imageNetStd) {
            self.imageSize = imageSize
            self.dropout = dropout
            self.attentionRegularization = attentionRegularization
            self.mean = mean
            self.std = std
        }

        /// The settings of an existing checkpoint (so export then import gives it back).
        public init(matching checkpoint: Checkpoint) {
            self.init(imageSize: checkpoint.preprocessing.imageSize, dropout: checkpoint.model.configuration.dropout,
                      attentionRegularization: checkpoint.model.configuration.attentionRegularization,
                      mean: checkpoint.preprocessing.mean, std: checkpoint.preprocessing.std)
        }
    }

    /// PyTorch's BatchNorm step counters: present in every state dict, unused by Glimpse.
    public static func batchesTrackedNames(for configuration: ModelConfiguration) -> [String] {
        ParameterTable(configuration: configuration).batchesTrackedNames
    }

    /// The configuration a state dict's shapes describe, completed by `options`.
    public static func inferConfiguration(from file: SafeTensorsFile,
                                          options: ImportOptions = ImportOptions()) throws(CheckpointError) -> ModelConfiguration {
        func fail(_ reason: CheckpointError.Reason) -> CheckpointError { CheckpointError(path: file.path, reason: reason) }
        typealias Entry = ParameterTable<CaptioningModel>.Entry
        var sizes: [TensorAxis: Int] = [:]
        /// Reads the sizes `entry` tells from its stored shape, which must have the layout's rank.
        func read(_ entry: Entry) throws(CheckpointError) {
            let name = entry.stateDictionaryName!
            guard let stored = file.entry(named: name) else { throw fail(.missingTensor(name)) }
            guard stored.shape.count == entry.layout.count else {
                throw fail(.cannotInferConfiguration(tensor: name, problem: "shape \(stored.shape) is not \(entry.layoutDescription)"))
            }
            for axis in entry.tells { sizes[axis] = stored.shape[entry.layout.firstIndex(of: axis)!] }
        }
        /// The tensor that tells stage `stage`'s channels.
        func stageTeller(_ stage: Int) -> Entry {
            ParameterTable(stageCount: stage + 1, wordDetector: false).parameters.first { $0.tells.contains(.channels(stage: stage)) }!
        }
        // As many stages as the file has tensors telling their channels, numbered from 0.
        var stageCount = 0
        while file.entry(named: stageTeller(stageCount).stateDictionaryName!) != nil {
            try read(stageTeller(stageCount))
            stageCount += 1
        }
        guard stageCount > 0 else { throw fail(.missingTensor(stageTeller(0).stateDictionaryName!)) }
        // Then every size, in table order (the stages' again, unchanged).
        for entry in ParameterTable(stageCount: stageCount, wordDetector: false).parameters where !entry.tells.isEmpty {
            try read(entry)
        }
        let stageChannels = (0..<stageCount).map { sizes[.channels(stage: $0)]! }
        // D is the last stage's channels, or 2 more when the features carry their grid coordinates.
        let positionFeatures = sizes[.feature]! == stageChannels.last! + 2
        do {
            return try ModelConfiguration(vocabularySize: sizes[.vocabulary]!, imageSize: options.imageSize,
                                          stageChannels: stageChannels, embeddingSize: sizes[.embedding]!,
                                          attentionSize: sizes[.attention]!, hiddenSize: sizes[.hidden]!,
                                          dropout: options.dropout, attentionRegularization: options.attentionRegularization,
                                          positionFeatures: positionFeatures)
        } catch {
            throw fail(.invalidConfiguration(error.description))
        }
    }

    /// A checkpoint from a PyTorch state dict and its vocabulary. Every tensor the
    /// configuration needs must be present with its shape in a float type (F32, F16,
    /// BF16); `num_batches_tracked` counters are accepted and ignored; any other tensor
    /// is an error, as is a vocabulary whose size is not V.
    public static func importCheckpoint(from file: SafeTensorsFile, vocabulary: Vocabulary,
                                        options: ImportOptions = ImportOptions()) throws(CheckpointError) -> Checkpoint {
        func fail(_ reason: CheckpointError.Reason) -> CheckpointError { CheckpointError(path: file.path, reason: reason) }
        let configuration = try inferConfiguration(from: file, options: options)
        guard options.mean.count == 3, options.std.count == 3, options.std.allSatisfy({ $0 > 0 && $0.isFinite }),
              options.mean.allSatisfy(\.isFinite) else {
            throw fail(.invalidConfiguration("normalisation needs three means and three positive standard deviations, "
                                             + "got mean \(options.mean), std \(options.std)"))
        }
        // Names, shapes and dtypes, in table order: the first mismatch by name. A state dict's
        // configuration has no word detector, so every entry has a state-dict name.
        let model = try CaptioningModel(configuration: configuration, tensorsFrom: file,
                                        storedName: { $0.stateDictionaryName! })
        let table = ParameterTable(configuration: configuration)
        let known = Set(table.entries.compactMap(\.stateDictionaryName))
        let counters = Set(table.batchesTrackedNames)
        for entry in file.entries where !known.contains(entry.name) {
            guard counters.contains(entry.name) else { throw fail(.unexpectedTensor(entry.name)) }
            guard entry.elementCount == 1 else {
                throw fail(.wrongShape(tensor: entry.name, expected: [], found: entry.shape))
            }
        }
        guard vocabulary.count == configuration.vocabularySize else {
            throw fail(.vocabularySizeMismatch(vocabulary: vocabulary.count, configuration: configuration.vocabularySize))
        }
        return Checkpoint(model: model, vocabulary: vocabulary,
                          preprocessing: Preprocessing(imageSize: configuration.imageSize, mean: options.mean, std: options.std))
    }

    /// Reads the state dict at `path`, then imports it as above.
    public static func importCheckpoint(contentsOf path: String, vocabulary: Vocabulary,
                                        options: ImportOptions = ImportOptions()) throws(CheckpointError) -> Checkpoint {
        let file: SafeTensorsFile
        do {
            file = try SafeTensorsFile(contentsOf: path)
        } catch {
            throw CheckpointError(path: path, reason: .file(error.reasonDescription))
        }
        return try importCheckpoint(from: file, vocabulary: vocabulary, options: options)
    }

    /// The model as a state dict PyTorch's `load_state_dict` accepts strictly: every
    /// parameter and running statistic as F32 under its PyTorch name, and each
    /// BatchNorm's `num_batches_tracked` as an I64 scalar (0: Glimpse does not count them,
    /// and PyTorch only reads them when `momentum` is None). The training-only
    /// `word_detector` head is left out: the PyTorch model has no such module.
    public static func tensors(of model: CaptioningModel) -> [String: SafeTensorsWriter.Tensor] {
        let table = model.parameterTable
        var tensors: [String: SafeTensorsWriter.Tensor] = [:]
        for entry in table.entries {
            guard let name = entry.stateDictionaryName else { continue }
            let tensor = model[keyPath: entry.tensor]
            tensors[name] = .float32(ShapedArray(shape: tensor.shape, values: tensor.scalars))
        }
        for name in table.batchesTrackedNames {
            tensors[name] = .int64(ShapedArray(shape: [], values: [0]))
        }
        return tensors
    }

    /// Writes `tensors(of: model)` atomically at `path`, with the `{"format": "pt"}`
    /// metadata `safetensors.torch.save_file` users expect.
    public static func write(_ model: CaptioningModel, to path: String) throws(CheckpointError) {
        do {
            try SafeTensorsWriter.write(tensors(of: model), metadata: ["format": "pt"], to: path)
        } catch {
            throw CheckpointError(path: path, reason: .file(error.reasonDescription))
        }
    }
}
