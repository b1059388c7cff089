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

// MARK: One step, forward and backward

extension Decoder {
    /// What `backwardStep` needs of one training step over B_t rows.
    public struct StepCache: Sendable {
        /// The input tokens, [B_t].
        public var embedding: Embedding.Cache
        /// The rows' features [B_t, P, D], h_{t−1} [B_t, H], α_t [B_t, P], ...
        public var attention: SoftAttention.Cache
        /// [emb; z_t] [B_t, E + D], the gates [B_t, 4H], c_{t−1} and c_t [B_t, H].
        public var lstm: LSTMCell.Cache
        /// The dropout mask, [B_t, H] (none in inference mode).
        public var dropout: Dropout.Cache
    }

    /// One step's result, before the output layer.
    public struct StepOutput: Sendable {
        /// h_t and c_t, [B_t, H] each.
        public var state: LSTMCell.State
        /// dropout(h_t), [B_t, H]: the input of `output` (fc).
        public var dropped: Tensor
        /// α_t, [B_t, P]: where each row looked.
        public var attentionWeights: Tensor
    }

    /// One step for training: previous words `tokens` [B_t], the rows' features
    /// [B_t, P, D] and their projections [B_t, P, A], and h_{t−1}, c_{t−1} [B_t, H].
    /// Draws the dropout mask (in `.training` mode) from `generator`.
    public func forwardStep(tokens: [Int], features: Tensor, projectedFeatures: Tensor, state: LSTMCell.State,
                            mode: Mode, using generator: inout SeededGenerator) -> (output: StepOutput, cache: StepCache) {
        let (embedded, embeddingCache) = embedding.forward(tokens) // [B_t, E]
        let (attended, attentionCache) = attention.forward(features: features, projectedFeatures: projectedFeatures,
                                                           hidden: state.hidden)
        let lstmInput = Tensor.concatenatingColumns([embedded, attended.context]) // [B_t, E + D]
        let (next, lstmCache) = lstm.forward(lstmInput, state: state)
        let (dropped, dropoutCache) = dropout.forward(next.hidden, mode: mode, using: &generator)
        return (StepOutput(state: next, dropped: dropped, attentionWeights: attended.weights),
                StepCache(embedding: embeddingCache, attention: attentionCache, lstm: lstmCache, dropout: dropoutCache))
    }

    /// Backward of `forwardStep`. `droppedGradient` is dL/d dropout(h_t) [B_t, H] (from the
    /// output layer), `laterGradient` dL/d(h_t, c_t) from step t + 1 for its B_{t+1} ≤ B_t
    /// rows (the leading ones), `weightsGradient` dL/dα_t [B_t, P]. Accumulates the
    /// parameter gradients, adds dL/da and dL/d encoder_att(a) of the rows into
    /// `featureGradients`, and returns dL/d(h_{t−1}, c_{t−1}), [B_t, H] each.
    public func backwardStep(droppedGradient: Tensor, laterGradient: LSTMCell.State, weightsGradient: Tensor,
                             cache: StepCache, into gradients: inout Gradients,
                             featureGradients: inout SoftAttention.FeatureGradients) -> LSTMCell.State {
        let (rows, hiddenSize) = (droppedGradient.shape[0], droppedGradient.shape[1])
        let (embeddingSize, featureSize) = (embedding.weight.shape[1], attention.featureSize)
        var hiddenGradient = dropout.backward(droppedGradient, cache: cache.dropout)
        hiddenGradient.addIntoLeadingRows(laterGradient.hidden)
        var cellGradient = Tensor(zeros: [rows, hiddenSize])
        cellGradient.addIntoLeadingRows(laterGradient.cell)
        let (inputGradient, previousGradient) = lstm.backward(LSTMCell.State(hidden: hiddenGradient, cell: cellGradient),
                                                              cache: cache.lstm, into: &gradients.lstm)
        embedding.backward(inputGradient.columns(0..<embeddingSize), cache: cache.embedding, into: &gradients.embedding)
        let attentionHiddenGradient = attention.backward(
            inputGradient.columns(embeddingSize..<(embeddingSize + featureSize)), weightsGradient: weightsGradient,
            cache: cache.attention, into: &gradients.attention, accumulatingInto: &featureGradients)
        var previousHiddenGradient = previousGradient.hidden
        previousHiddenGradient += attentionHiddenGradient
        return LSTMCell.State(hidden: previousHiddenGradient, cell: previousGradient.cell)
    }

    /// One step for inference (no dropout, no caches), as `forwardStep` computes it:
    /// the logits [B, V], α [B, P] and h_t, c_t.
    public func step(tokens: [Int], features: Tensor, projectedFeatures: Tensor, state: LSTMCell.State)
        -> (logits: Tensor, attentionWeights: Tensor, state: LSTMCell.State) {
        let embedded = embedding(tokens) // [B, E]
        let attended = attention(features: features, projectedFeatures: projectedFeatures, hidden: state.hidden)
        let next = lstm(Tensor.concatenatingColumns([embedded, attended.context]), state: state)
        return (output(dropout(next.hidden)), attended.weights, next)
    }
}
