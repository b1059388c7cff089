import GlimpseText
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

// MARK: All steps of a batch of captions, forward and backward

extension Decoder {
    /// What `backward` needs of a teacher-forced pass over a batch's captions.
    public struct Cache: Sendable {
        /// How the captions are sorted and packed (B captions, T steps, Σ B_t tokens).
        public var layout: PackedLayout
        /// encoder_att's input, the features a [N, P, D].
        public var projection: Linear.Cache
        /// init_h's and init_c's input, mean_p a [N, D].
        public var initialHidden: Linear.Cache
        public var initialCell: Linear.Cache
        /// One per step t, over its B_t rows.
        public var steps: [StepCache]
        /// fc's input, dropout(h_t) packed, [Σ B_t, H].
        public var output: Linear.Cache
        /// Σ_t α_t per caption, [B, P]: what the attention penalty is of.
        public var attentionSums: Tensor
    }

    /// Teacher-forced steps over `captions` (input `<start> w1 … wn`), from the images'
    /// features [N, P, D]: the logits of every predicted token, [Σ B_t, V], packed as
    /// `layout` says. Step t runs only the B_t captions still active. With
    /// `samplingProbability` > 0, each row after the first step feeds the previous step's
    /// greedy word instead of the true one with that probability (no gradient flows through
    /// the choice). `generator` draws the dropout masks and the sampling choices, in that
    /// order per step.
    public func forward(features: Tensor, captions: [CaptionBatch.Caption], layout: PackedLayout, mode: Mode,
                        samplingProbability: Float, using generator: inout SeededGenerator)
        -> (logits: Tensor, cache: Cache) {
        let (locations, featureSize, hiddenSize) = (features.shape[1], features.shape[2], lstm.hiddenSize)
        let sortedTokens = layout.order.map { captions[$0].tokens }

        // Per image: the attention's projection and the initial state.
        let (projected, projectionCache) = attention.forwardProjection(features) // [N, P, A]
        let meanFeatures = features.sum(alongAxis: 1).scaled(by: 1 / Float(locations)) // [N, D]
        let (initialHidden, initialHiddenCache) = initialHidden.forward(meanFeatures) // [N, H]
        let (initialCell, initialCellCache) = initialCell.forward(meanFeatures) // [N, H]
        var state = LSTMCell.State(hidden: initialHidden.gatheringRows(layout.rowImages),
                                   cell: initialCell.gatheringRows(layout.rowImages)) // [B, H]

        // The steps, over the shrinking active batch.
        var stepCaches: [StepCache] = []
        stepCaches.reserveCapacity(layout.stepCount)
        // Features and projections gathered per caption, once per distinct active batch size.
        var segmentFeatures = Tensor(zeros: [0, locations, featureSize]) // [B_t, P, D]
        var segmentProjected = Tensor(zeros: [0, locations, attention.attentionSize]) // [B_t, P, A]
        var packedHidden = Tensor(zeros: [layout.tokenCount, hiddenSize]) // dropout(h_t), packed
        var attentionSums = Tensor(zeros: [layout.order.count, locations]) // Σ_t α_t, [B, P]
        var previousLogits: Tensor? = nil // [B_{t−1}, V], only when sampling
        let sampling = samplingProbability > 0
        for step in 0..<layout.stepCount {
            let active = layout.batchSizes[step]
            if active != segmentFeatures.shape[0] {
                segmentFeatures = features.gatheringRows(layout.rowImages[0..<active])
                segmentProjected = projected.gatheringRows(layout.rowImages[0..<active])
            }
            if active < state.hidden.shape[0] {
                state = LSTMCell.State(hidden: state.hidden.rows(0..<active), cell: state.cell.rows(0..<active))
            }
            var inputs = [Int](repeating: Int(Vocabulary.startID), count: active)
            if step > 0 {
                let predictions = sampling ? previousLogits!.rowArgmax(rows: active) : []
                for row in 0..<active {
                    inputs[row] = Int(sortedTokens[row][step - 1])
                    if sampling && generator.nextUnitFloat() < samplingProbability { inputs[row] = predictions[row] }
                }
            }
            let (stepOutput, stepCache) = forwardStep(tokens: inputs, features: segmentFeatures,
                                                      projectedFeatures: segmentProjected, state: state, mode: mode,
                                                      using: &generator)
            attentionSums.addIntoLeadingRows(stepOutput.attentionWeights)
            packedHidden.setRows(startingAt: layout.offsets[step], to: stepOutput.dropped)
            // The greedy prediction is the argmax of the logits the loss sees at this step
            // (dropout included); packed, they are recomputed below with a cache for backward.
            if sampling { previousLogits = output(stepOutput.dropped) }
            stepCaches.append(stepCache)
            state = stepOutput.state
        }
        let (logits, outputCache) = output.forward(packedHidden) // [Σ B_t, V]
        return (logits, Cache(layout: layout, projection: projectionCache, initialHidden: initialHiddenCache,
                              initialCell: initialCellCache, steps: stepCaches, output: outputCache,
                              attentionSums: attentionSums))
    }

    /// Backward of `forward`, through time in reverse: `logitsGradient` [Σ B_t, V] and
    /// `weightsGradient` dL/dα_t [B, P] (the same for every step). Accumulates the
    /// parameter gradients and returns dL/da, [N, P, D]. Without `computingFeaturesGradient`
    /// (a frozen encoder, whose features need no gradient) returns an empty tensor and skips
    /// every step's B_t·P·D accumulation, the largest memory traffic of a step when D is 2048.
    public func backward(_ logitsGradient: Tensor, weightsGradient: Tensor, cache: consuming Cache,
                         into gradients: inout Gradients, computingFeaturesGradient: Bool = true) -> Tensor {
        let layout = cache.layout
        let (rowCount, hiddenSize) = (layout.order.count, lstm.hiddenSize)
        let packedHiddenGradient = output.backward(logitsGradient, cache: cache.output, into: &gradients.output) // [Σ B_t, H]
        let imageFeatureGradientsTemplate = attention.zeroFeatureGradients(for: cache.projection)
        var imageFeatureGradients = imageFeatureGradientsTemplate // [N, P, D] and [N, P, A]
        let (imageCount, locations, featureSize) = (imageFeatureGradients.features.shape[0],
                                                    imageFeatureGradients.features.shape[1],
                                                    imageFeatureGradients.features.shape[2])
        var segmentGradients = imageFeatureGradientsTemplate
        var segmentSize = 0
        if !computingFeaturesGradient { imageFeatureGradients.features = Tensor(zeros: [0]) }
        func flushSegment(_ segment: SoftAttention.FeatureGradients, size: Int) {
            guard size > 0 else { return }
            if computingFeaturesGradient {
                imageFeatureGradients.features.scatterAddRows(segment.features, to: layout.rowImages[0..<size])
            }
            imageFeatureGradients.projectedFeatures.scatterAddRows(segment.projectedFeatures, to: layout.rowImages[0..<size])
        }
        // dL/d(h_t, c_t) from step t + 1, [B_{t+1}, H] each.
        var stateGradient = LSTMCell.State(hidden: Tensor(zeros: [0, hiddenSize]), cell: Tensor(zeros: [0, hiddenSize]))
        for step in stride(from: layout.stepCount - 1, through: 0, by: -1) {
            let active = layout.batchSizes[step]
            if active != segmentSize {
                flushSegment(segmentGradients, size: segmentSize)
                segmentGradients.features = Tensor(zeros: computingFeaturesGradient ? [active, locations, featureSize] : [0])
                segmentGradients.projectedFeatures = Tensor(zeros: [active, locations, attention.attentionSize])
                segmentSize = active
            }
            let offset = layout.offsets[step]
            stateGradient = backwardStep(
                droppedGradient: packedHiddenGradient.rows(offset..<(offset + active)), laterGradient: stateGradient,
                weightsGradient: active == rowCount ? weightsGradient : weightsGradient.rows(0..<active),
                cache: cache.steps[step], into: &gradients, featureGradients: &segmentGradients)
        }
        flushSegment(segmentGradients, size: segmentSize)
        cache.steps.removeAll()

        // Back to the images: the initial state, the projection and the mean.
        var initialHiddenGradient = Tensor(zeros: [imageCount, hiddenSize])
        initialHiddenGradient.scatterAddRows(stateGradient.hidden, to: layout.rowImages)
        var initialCellGradient = Tensor(zeros: [imageCount, hiddenSize])
        initialCellGradient.scatterAddRows(stateGradient.cell, to: layout.rowImages)
        var meanGradient = initialHidden.backward(initialHiddenGradient, cache: cache.initialHidden,
                                                  into: &gradients.initialHidden) // [N, D]
        meanGradient += initialCell.backward(initialCellGradient, cache: cache.initialCell, into: &gradients.initialCell)
        var featuresGradient = attention.backwardProjection(imageFeatureGradients, cache: cache.projection,
                                                            into: &gradients.attention) // [N, P, D]
        guard computingFeaturesGradient else { return Tensor(zeros: [0]) }
        featuresGradient.withUnsafeMutableBufferPointer { target in
            meanGradient.withUnsafeBufferPointer { mean in
                let scale = 1 / Float(locations)
                for image in 0..<imageCount {
                    for location in 0..<locations {
                        BLAS.saxpy(count: featureSize, alpha: scale, x: mean.baseAddress! + image * featureSize,
                                   y: target.baseAddress! + (image * locations + location) * featureSize)
                    }
                }
            }
        }
        return featuresGradient
    }
}
