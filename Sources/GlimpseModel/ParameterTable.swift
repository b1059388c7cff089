import GlimpseLayers
import GlimpseTensor

/// The size of one axis of a checkpoint tensor, by its letter in `ModelConfiguration`.
public enum TensorAxis: Hashable, Sendable, CustomStringConvertible {
    /// V
    case vocabulary
    /// E
    case embedding
    /// A
    case attention
    /// H
    case hidden
    /// D
    case feature
    /// 4H: the LSTM's four gates (i, f, g, o).
    case gates
    /// E + D: the LSTM's input, a word's embedding beside the context.
    case lstmInput
    /// C: the output channels of encoder stage `stage`.
    case channels(stage: Int)
    /// C_in: the input channels of encoder stage `stage` (3, RGB, for the first).
    case inputChannels(stage: Int)
    /// 3: a convolution kernel's side.
    case kernel
    /// 1: full_att's single output.
    case one

    public func size(in configuration: ModelConfiguration) -> Int {
        switch self {
        case .vocabulary: return configuration.vocabularySize
        case .embedding: return configuration.embeddingSize
        case .attention: return configuration.attentionSize
        case .hidden: return configuration.hiddenSize
        case .feature: return configuration.featureSize
        case .gates: return 4 * configuration.hiddenSize
        case .lstmInput: return configuration.embeddingSize + configuration.featureSize
        case .channels(let stage): return configuration.stageChannels[stage]
        case .inputChannels(let stage): return stage == 0 ? 3 : configuration.stageChannels[stage - 1]
        case .kernel: return 3
        case .one: return 1
        }
    }

    public var description: String {
        switch self {
        case .vocabulary: return "V"
        case .embedding: return "E"
        case .attention: return "A"
        case .hidden: return "H"
        case .feature: return "D"
        case .gates: return "4H"
        case .lstmInput: return "E + D"
        case .channels: return "C"
        case .inputChannels: return "C_in"
        case .kernel: return "3"
        case .one: return "1"
        }
    }
}

/// Every tensor of a model, in one table: its checkpoint name, its PyTorch state-dict name,
/// its shape by size letter, and where it and its gradient live. The model's parameter and
/// buffer paths, the shapes a checkpoint must have, the state-dict export and import, and
/// the configuration a state dict's shapes describe are all read from here.
///
/// Entries come in a fixed order: parameters (encoder stages, decoder, word detector), then
/// buffers (running statistics). That is the order checkpoints are checked in, so the
/// first mismatch reported is the first in this order, and the optimizer's order.
///
/// The same listing serves the model's parts (`Model` = `Encoder`, `Decoder`, `EncoderStage`),
/// whose names are the model's without the part's own prefix.
public struct ParameterTable<Model: Parameterized> {
    public struct Entry {
        /// In Glimpse checkpoints, and the key of the tensor's optimizer moments.
        public let name: String
        /// In the equivalent PyTorch module's state dict (`Scripts/reference_model.py`): the
        /// same as `name`, or nil for a tensor that module does not have (`word_detector`).
        public let stateDictionaryName: String?
        /// The shape by size letter, e.g. [V, E] or [4H, E + D].
        public let layout: [TensorAxis]
        /// Where the tensor lives.
        public let tensor: WritableKeyPath<Model, Tensor>
        /// Where its gradient lives; nil for a buffer (running statistics).
        public let gradient: WritableKeyPath<Model.Gradients, Tensor>?
        /// The sizes this tensor's shape tells when a state dict is read without a configuration.
        public let tells: [TensorAxis]

        public func shape(in configuration: ModelConfiguration) -> [Int] {
            layout.map { $0.size(in: configuration) }
        }

        /// The layout in letters, "[C, C_in, 3, 3]".
        public var layoutDescription: String { "[" + layout.map(\.description).joined(separator: ", ") + "]" }
    }

    /// Parameters, then buffers.
    public var entries: [Entry] { parameters + buffers }
    public private(set) var parameters: [Entry] = []
    public private(set) var buffers: [Entry] = []
    /// PyTorch's BatchNorm step counters: in every state dict, not in the model (Glimpse does not count).
    public private(set) var batchesTrackedNames: [String] = []

    init() {}

    /// Every parameter, with its gradient, in table order.
    public var parameterPaths: [ParameterPath<Model>] {
        parameters.map { ParameterPath(name: $0.name, parameter: $0.tensor, gradient: $0.gradient!) }
    }

    public var bufferPaths: [(name: String, buffer: WritableKeyPath<Model, Tensor>)] {
        buffers.map { (name: $0.name, buffer: $0.tensor) }
    }

    // MARK: Rows

    private mutating func parameter(_ name: String, _ tensor: WritableKeyPath<Model, Tensor>,
                                    _ gradient: WritableKeyPath<Model.Gradients, Tensor>, _ layout: [TensorAxis],
                                    tells: [TensorAxis] = [], inStateDictionary: Bool = true) {
        parameters.append(Entry(name: name, stateDictionaryName: inStateDictionary ? name : nil, layout: layout,
                                tensor: tensor, gradient: gradient, tells: tells))
    }

    private mutating func buffer(_ name: String, _ tensor: WritableKeyPath<Model, Tensor>, _ layout: [TensorAxis]) {
        buffers.append(Entry(name: name, stateDictionaryName: name, layout: layout, tensor: tensor, gradient: nil, tells: []))
    }

    // MARK: Layers (PyTorch's parameter names and layouts)

    /// weight [output, input], bias [output].
    private mutating func linear(_ name: String, _ layer: WritableKeyPath<Model, Linear>,
                                 _ gradients: WritableKeyPath<Model.Gradients, Linear.Gradients>,
                                 input: TensorAxis, output: TensorAxis, tells: [TensorAxis] = [],
                                 inStateDictionary: Bool = true) {
        parameter(name + ".weight", layer.appending(path: \.weight), gradients.appending(path: \.weight), [output, input],
                  tells: tells, inStateDictionary: inStateDictionary)
        parameter(name + ".bias", layer.appending(path: \.bias!), gradients.appending(path: \.bias!), [output],
                  inStateDictionary: inStateDictionary)
    }

    /// A 3x3 convolution without bias (a BatchNorm follows): weight [output, input, 3, 3].
    private mutating func convolution(_ name: String, _ layer: WritableKeyPath<Model, Conv2d>,
                                      _ gradients: WritableKeyPath<Model.Gradients, Conv2d.Gradients>,
                                      input: TensorAxis, output: TensorAxis, tells: [TensorAxis] = []) {
        parameter(name + ".weight", layer.appending(path: \.weight), gradients.appending(path: \.weight),
                  [output, input, .kernel, .kernel], tells: tells)
    }

    /// weight and bias [C]; running_mean and running_var [C]; and PyTorch's num_batches_tracked.
    private mutating func batchNorm(_ name: String, _ layer: WritableKeyPath<Model, BatchNorm2d>,
                                    _ gradients: WritableKeyPath<Model.Gradients, BatchNorm2d.Gradients>,
                                    channels: TensorAxis) {
        parameter(name + ".weight", layer.appending(path: \.weight), gradients.appending(path: \.weight), [channels])
        parameter(name + ".bias", layer.appending(path: \.bias), gradients.appending(path: \.bias), [channels])
        buffer(name + ".running_mean", layer.appending(path: \.runningMean), [channels])
        buffer(name + ".running_var", layer.appending(path: \.runningVariance), [channels])
        batchesTrackedNames.append(name + ".num_batches_tracked")
    }

    // MARK: The model's parts

    /// `prefix` + "conv1", "bn1", "conv2", "bn2".
    mutating func appendStage(_ stage: Int, at layer: WritableKeyPath<Model, EncoderStage>,
                              gradients: WritableKeyPath<Model.Gradients, EncoderStage.Gradients>, prefix: String) {
        let channels = TensorAxis.channels(stage: stage)
        convolution(prefix + "conv1", layer.appending(path: \.conv1), gradients.appending(path: \.conv1),
                    input: .inputChannels(stage: stage), output: channels, tells: [channels])
        batchNorm(prefix + "bn1", layer.appending(path: \.bn1), gradients.appending(path: \.bn1), channels: channels)
        convolution(prefix + "conv2", layer.appending(path: \.conv2), gradients.appending(path: \.conv2),
                    input: channels, output: channels)
        batchNorm(prefix + "bn2", layer.appending(path: \.bn2), gradients.appending(path: \.bn2), channels: channels)
    }

    /// `prefix` + "stages.N." + a stage's names.
    mutating func appendEncoder(stageCount: Int, at encoder: WritableKeyPath<Model, Encoder>,
                                gradients: WritableKeyPath<Model.Gradients, Encoder.Gradients>, prefix: String) {
        for stage in 0..<stageCount {
            appendStage(stage, at: encoder.appending(path: \.stages[stage]), gradients: gradients.appending(path: \.stages[stage]),
                        prefix: prefix + "stages.\(stage).")
        }
    }

    /// The PyTorch module tree: the attention's gate is `f_beta` at the decoder's level, the
    /// rest of the attention under `attention`.
    mutating func appendDecoder(at decoder: WritableKeyPath<Model, Decoder>,
                                gradients: WritableKeyPath<Model.Gradients, Decoder.Gradients>, prefix: String) {
        parameter(prefix + "embedding.weight", decoder.appending(path: \.embedding.weight),
                  gradients.appending(path: \.embedding.weight), [.vocabulary, .embedding], tells: [.embedding])
        linear(prefix + "attention.encoder_att", decoder.appending(path: \.attention.encoderAttention),
               gradients.appending(path: \.attention.encoderAttention), input: .feature, output: .attention,
               tells: [.attention, .feature])
        linear(prefix + "attention.decoder_att", decoder.appending(path: \.attention.decoderAttention),
               gradients.appending(path: \.attention.decoderAttention), input: .hidden, output: .attention)
        linear(prefix + "attention.full_att", decoder.appending(path: \.attention.fullAttention),
               gradients.appending(path: \.attention.fullAttention), input: .attention, output: .one)
        linear(prefix + "init_h", decoder.appending(path: \.initialHidden), gradients.appending(path: \.initialHidden),
               input: .feature, output: .hidden, tells: [.hidden])
        linear(prefix + "init_c", decoder.appending(path: \.initialCell), gradients.appending(path: \.initialCell),
               input: .feature, output: .hidden)
        linear(prefix + "f_beta", decoder.appending(path: \.attention.gate), gradients.appending(path: \.attention.gate),
               input: .hidden, output: .feature)
        let lstm = decoder.appending(path: \.lstm), lstmGradients = gradients.appending(path: \.lstm)
        parameter(prefix + "lstm.weight_ih", lstm.appending(path: \.inputWeight), lstmGradients.appending(path: \.inputWeight),
                  [.gates, .lstmInput])
        parameter(prefix + "lstm.weight_hh", lstm.appending(path: \.recurrentWeight),
                  lstmGradients.appending(path: \.recurrentWeight), [.gates, .hidden])
        parameter(prefix + "lstm.bias_ih", lstm.appending(path: \.inputBias), lstmGradients.appending(path: \.inputBias), [.gates])
        parameter(prefix + "lstm.bias_hh", lstm.appending(path: \.recurrentBias), lstmGradients.appending(path: \.recurrentBias),
                  [.gates])
        linear(prefix + "fc", decoder.appending(path: \.output), gradients.appending(path: \.output),
               input: .hidden, output: .vocabulary, tells: [.vocabulary])
    }
}

extension ParameterTable where Model == CaptioningModel {
    /// The table of a model of `configuration`.
    public init(configuration: ModelConfiguration) {
        self.init(stageCount: configuration.stageCount, wordDetector: configuration.hasWordDetector)
    }

    /// The table of a model of `stageCount` encoder stages, with or without the word detector:
    /// all the structure there is (the sizes only fill in the layouts).
    init(stageCount: Int, wordDetector: Bool) {
        self.init()
        appendEncoder(stageCount: stageCount, at: \.encoder, gradients: \.encoder, prefix: "encoder.")
        appendDecoder(at: \.decoder, gradients: \.decoder, prefix: "decoder.")
        if wordDetector {
            // Training only: the PyTorch model has no such module.
            linear("word_detector", \.wordDetector!, \.wordDetector!, input: .feature, output: .vocabulary,
                   inStateDictionary: false)
        }
    }
}
