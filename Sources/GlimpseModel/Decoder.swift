import GlimpseLayers
import GlimpseTensor

/// The LSTM decoder with soft attention. Per step t, for a batch of B rows:
///
///     z_t, α_t = attention(a, h_{t−1})          z [B, D] (gated context), α [B, P]
///     h_t, c_t = lstm([embedding(y_{t−1}); z_t], (h_{t−1}, c_{t−1}))     [B, E + D] → [B, H]
///     logits_t = fc(dropout(h_t))               [B, V]
///
/// with h_0 = init_h(mean_p a_p), c_0 = init_c(mean_p a_p) (no nonlinearity).
/// Checkpoint names (PyTorch module tree): `embedding`, `attention.{encoder_att,
/// decoder_att, full_att}`, `init_h`, `init_c`, `f_beta` (the attention's gate,
/// named at the decoder's level as in the common PyTorch implementation), `lstm`, `fc`.
public struct Decoder: Parameterized, Sendable {
    /// [V, E]
    public var embedding: Embedding
    /// encoder_att D→A, decoder_att H→A, full_att A→1, and the gate f_beta H→D.
    public var attention: SoftAttention
    /// init_h, D → H
    public var initialHidden: Linear
    /// init_c, D → H
    public var initialCell: Linear
    /// Input E + D, hidden H.
    public var lstm: LSTMCell
    /// fc, H → V
    public var output: Linear
    public var dropout: Dropout

    public struct Gradients: Sendable {
        public var embedding: Embedding.Gradients
        public var attention: SoftAttention.Gradients
        public var initialHidden: Linear.Gradients
        public var initialCell: Linear.Gradients
        public var lstm: LSTMCell.Gradients
        public var output: Linear.Gradients
    }

    /// A decoder from existing layers (a checkpoint's).
    public init(embedding: Embedding, attention: SoftAttention, initialHidden: Linear, initialCell: Linear,
                lstm: LSTMCell, output: Linear, dropout: Dropout) {
        self.embedding = embedding
        self.attention = attention
        self.initialHidden = initialHidden
        self.initialCell = initialCell
        self.lstm = lstm
        self.output = output
        self.dropout = dropout
    }

    public init(configuration: ModelConfiguration, using generator: inout SeededGenerator) {
        let (featureSize, hiddenSize) = (configuration.featureSize, configuration.hiddenSize)
        embedding = Embedding(vocabularySize: configuration.vocabularySize, embeddingSize: configuration.embeddingSize,
                              using: &generator)
        attention = SoftAttention(featureSize: featureSize, hiddenSize: hiddenSize,
                                  attentionSize: configuration.attentionSize, using: &generator)
        initialHidden = Linear(inputSize: featureSize, outputSize: hiddenSize, using: &generator)
        initialCell = Linear(inputSize: featureSize, outputSize: hiddenSize, using: &generator)
        lstm = LSTMCell(inputSize: configuration.embeddingSize + featureSize, hiddenSize: hiddenSize, using: &generator)
        output = Linear(inputSize: hiddenSize, outputSize: configuration.vocabularySize, using: &generator)
        dropout = Dropout(probability: configuration.dropout)
    }

    /// Named as in the model's `ParameterTable`, without its "decoder." prefix.
    public var parameterPaths: [ParameterPath<Decoder>] {
        var table = ParameterTable<Decoder>()
        table.appendDecoder(at: \.self, gradients: \.self, prefix: "")
        return table.parameterPaths
    }

    public func zeroGradients() -> Gradients {
        Gradients(embedding: embedding.zeroGradients(), attention: attention.zeroGradients(),
                  initialHidden: initialHidden.zeroGradients(), initialCell: initialCell.zeroGradients(),
                  lstm: lstm.zeroGradients(), output: output.zeroGradients())
    }
}
