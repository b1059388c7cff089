import GlimpseData
import GlimpseImage
import GlimpseSafeTensors
import GlimpseTensor

/// Conversion between Glimpse checkpoints and plain PyTorch state dicts of the
/// equivalent module (`Scripts/reference_model.py`): the same tensor names and layouts,
/// no metadata needed, plus PyTorch's BatchNorm `num_batches_tracked` counters.
///
/// Importing reads the configuration from the shapes: the stage count and channels
/// from `encoder.stages.N.conv1.weight` [C, C_in, 3, 3], E from `decoder.embedding.weight`
/// [V, E], A from `decoder.attention.encoder_att.weight` [A, D], H from
/// `decoder.init_h.weight` [H, D] and V from `decoder.fc.weight` [V, H]; every other
/// tensor is then checked against those sizes. What shapes cannot tell (S, dropout, λ,
/// normalisation) comes from `ImportOptions`.
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
        configuration.stageChannels.indices.flatMap { stage in
            (1...2).map { "encoder.stages.\(stage).bn\($0).num_batches_tracked" }
        }
    }

    /// The configuration a state dict's shapes describe, completed by `options`.
    public static func inferConfiguration(from file: SafeTensorsFile,
                                          options: ImportOptions = ImportOptions()) throws(CheckpointError) -> ModelConfiguration {
        func fail(_ reason: CheckpointError.Reason) -> CheckpointError { CheckpointError(path: file.path, reason: reason) }
        /// The shape of `name`, which must have `rank` dimensions (`layout` says which).
        func shape(_ name: String, rank: Int, layout: String) throws(CheckpointError) -> [Int] {
            guard let entry = file.entry(named: name) else { throw fail(.missingTensor(name)) }
            guard entry.shape.count == rank else {
                throw fail(.cannotInferConfiguration(tensor: name, problem: "shape \(entry.shape) is not \(layout)"))
            }
            return entry.shape
        }
        var stageChannels: [Int] = []
        while file.entry(named: "encoder.stages.\(stageChannels.count).conv1.weight") != nil {
            let name = "encoder.stages.\(stageChannels.count).conv1.weight"
            stageChannels.append(try shape(name, rank: 4, layout: "[C, C_in, 3, 3]")[0])
        }
        guard !stageChannels.isEmpty else { throw fail(.missingTensor("encoder.stages.0.conv1.weight")) }
        let embeddingSize = try shape("decoder.embedding.weight", rank: 2, layout: "[V, E]")[1]
        let encoderAttention = try shape("decoder.attention.encoder_att.weight", rank: 2, layout: "[A, D]")
        let attentionSize = encoderAttention[0]
        // D is the last stage's channels, or 2 more when the features carry their grid coordinates.
        let positionFeatures = encoderAttention[1] == stageChannels.last! + 2
        let hiddenSize = try shape("decoder.init_h.weight", rank: 2, layout: "[H, D]")[0]
        let vocabularySize = try shape("decoder.fc.weight", rank: 2, layout: "[V, H]")[0]
        do {
            return try ModelConfiguration(vocabularySize: vocabularySize, imageSize: options.imageSize,
                                          stageChannels: stageChannels, embeddingSize: embeddingSize,
                                          attentionSize: attentionSize, hiddenSize: hiddenSize, dropout: options.dropout,
                                          attentionRegularization: options.attentionRegularization,
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
        // Names, shapes and dtypes, in expectedShapes order: the first mismatch by name.
        let model = try CaptioningModel(configuration: configuration, tensorsFrom: file)
        let known = Set(CaptioningModel.expectedShapes(for: configuration).map(\.name))
        let counters = Set(batchesTrackedNames(for: configuration))
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
        var tensors = model.namedTensors().filter { !$0.key.hasPrefix("word_detector.") }
            .mapValues { SafeTensorsWriter.Tensor.float32($0) }
        for name in batchesTrackedNames(for: model.configuration) {
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
