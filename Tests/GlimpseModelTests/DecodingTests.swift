import Foundation
import GlimpseData
import GlimpseLayers
import GlimpseModel
import GlimpseTensor
import GlimpseTestSupport
import Testing
import GlimpseText

/// log softmax of each row of a matrix, in Double.
func logSoftmaxRows(_ logits: Tensor) -> Tensor {
    let (rows, width) = (logits.shape[0], logits.shape[1])
    var result = logits
    for row in 0..<rows {
        var largest = -Double.infinity
        for column in 0..<width { largest = max(largest, Double(logits[row, column])) }
        var total = 0.0
        for column in 0..<width { total += exp(Double(logits[row, column]) - largest) }
        for column in 0..<width { result[row, column] = Float(Double(logits[row, column]) - largest - log(total)) }
    }
    return result
}

@Suite("Inference API: encode and decodeStep")
struct DecodingTests {
    static let configuration = ModelFixtures.tinyConfiguration(dropout: 0.5)

    @Test("teacher-forced decode steps give the training pass's logits in inference mode")
    func matchesTrainingPass() {
        var model = ModelFixtures.model(Self.configuration, seed: 50)
        let batch = ModelFixtures.batch(Self.configuration, imageCount: 2, lengths: [4, 2, 3], imageIndices: [1, 0, 1], seed: 51)
        var generator = SeededGenerator(seed: 52)
        let result = model.lossAndGradients(for: batch, mode: .inference, using: &generator)
        let layout = result.layout
        let expected = logSoftmaxRows(result.packedLogits)

        let encoded = model.encode(batch.images)
        #expect(encoded.features.shape == [2, Self.configuration.locationCount, Self.configuration.featureSize])
        #expect(encoded.projectedFeatures.shape == [2, Self.configuration.locationCount, Self.configuration.attentionSize])
        #expect(encoded.initialHidden.shape == [2, Self.configuration.hiddenSize])
        var state = encoded.initialState(imageIndices: layout.rowImages)
        for step in 0..<layout.stepCount {
            let active = layout.batchSizes[step]
            if active < state.rowCount { state = state.selectingRows(Array(0..<active)) }
            let tokens = (0..<active).map { row in
                step == 0 ? Vocabulary.startID : batch.captions[layout.order[row]].tokens[step - 1]
            }
            let output = model.decodeStep(tokens: tokens, state: state)
            #expect(output.logProbabilities.shape == [active, Self.configuration.vocabularySize])
            #expect(output.attentionWeights.shape == [active, Self.configuration.locationCount])
            assertClose(output.logProbabilities, expected.rows(layout.offsets[step]..<(layout.offsets[step] + active)),
                        absoluteTolerance: 1e-5, relativeTolerance: 1e-5, name: "log probabilities at step \(step)")
            state = output.state
        }
    }

    @Test("the cache-free validation loss equals the training pass's loss in inference mode")
    func evaluateLoss() {
        var model = ModelFixtures.model(Self.configuration, seed: 57)
        let batch = ModelFixtures.batch(Self.configuration, imageCount: 3, lengths: [2, 5, 1, 5, 3], seed: 58)
        let evaluated = model.evaluateLoss(for: batch)
        var generator = SeededGenerator(seed: 59)
        let trained = model.lossAndGradients(for: batch, mode: .inference, using: &generator).loss
        #expect(evaluated.tokenCount == trained.tokenCount && evaluated.captionCount == trained.captionCount)
        #expect(abs(evaluated.crossEntropy - trained.crossEntropy) <= 1e-5 * trained.crossEntropy)
        #expect(abs(evaluated.attentionPenalty - trained.attentionPenalty) <= 1e-5 * trained.attentionPenalty + 1e-6)
        #expect(abs(evaluated.total - trained.total) <= 1e-5 * trained.total)
    }

    @Test("rows can be selected, repeated and reordered, as beam search does")
    func selectingRows() {
        // Batches of more than `BLAS.matrixVectorRows` rows, whose products are sgemms: there a
        // row's values are the same bits whatever the other rows. (Smaller batches run as
        // matrix-vector products, equal to these up to float rounding: `rowsAreIndependent`.)
        #expect(BLAS.matrixVectorRows < 4)
        let model = ModelFixtures.model(Self.configuration, seed: 53)
        let batch = ModelFixtures.batch(Self.configuration, imageCount: 4, lengths: [], seed: 54)
        let encoded = model.encode(batch.images)
        let first = model.decodeStep(tokens: [Int32](repeating: Vocabulary.startID, count: 4), state: encoded.initialState())
        let tokens: [Int32] = [5, 6, 7, 8]
        let full = model.decodeStep(tokens: tokens, state: first.state)
        let rows = [2, 0, 0, 1, 3]
        let selected = first.state.selectingRows(rows)
        #expect(selected.imageIndices == [2, 0, 0, 1, 3])
        let partial = model.decodeStep(tokens: rows.map { tokens[$0] }, state: selected)
        for (index, row) in rows.enumerated() {
            #expect(partial.logProbabilities.row(index) == full.logProbabilities.row(row), "row \(index) (was \(row))")
            #expect(partial.attentionWeights.row(index) == full.attentionWeights.row(row))
            #expect(partial.state.lstm.hidden.row(index) == full.state.lstm.hidden.row(row))
        }
        // Keeping the rows' images keeps their gathered features without copying.
        let same = first.state.selectingRows([0, 1, 2, 3])
        #expect(same.features.sharesStorage(with: first.state.features))
        // Probabilities sum to one.
        for row in 0..<4 {
            let total = full.logProbabilities.row(row).scalars.reduce(0.0) { $0 + exp(Double($1)) }
            #expect(abs(total - 1) < 1e-5)
        }
    }

    @Test("decoding does not depend on the other rows of the batch")
    func rowsAreIndependent() {
        let model = ModelFixtures.model(Self.configuration, seed: 55)
        let batch = ModelFixtures.batch(Self.configuration, imageCount: 2, lengths: [], seed: 56)
        let encodedBoth = model.encode(batch.images)
        let encodedSecond = model.encode(batch.images.rows(1..<2))
        assertClose(encodedSecond.features, encodedBoth.features.rows(1..<2), name: "features of image 1 alone")
        let both = model.decodeStep(tokens: [1, 1], state: encodedBoth.initialState())
        let alone = model.decodeStep(tokens: [1], state: encodedSecond.initialState())
        assertClose(alone.logProbabilities, both.logProbabilities.rows(1..<2), name: "log probabilities of image 1 alone")
    }
}

@Suite("Scheduled sampling")
struct ScheduledSamplingTests {
    static let configuration = ModelFixtures.tinyConfiguration()

    @Test("schedules: constant, linear ramp, inverse sigmoid")
    func schedules() {
        #expect(ScheduledSampling.off.probability(atStep: 100) == 0)
        #expect(ScheduledSampling.constant(0.25).probability(atStep: 7) == 0.25)
        let linear = ScheduledSampling.linear(start: 0, end: 0.5, steps: 100)
        #expect(linear.probability(atStep: 0) == 0)
        #expect(linear.probability(atStep: 50) == 0.25)
        #expect(linear.probability(atStep: 100) == 0.5 && linear.probability(atStep: 1000) == 0.5)
        let sigmoid = ScheduledSampling.inverseSigmoid(k: 10, maximum: 0.8)
        #expect(abs(sigmoid.probability(atStep: 0) - 0.8 * (1 - 10 / 11)) < 1e-6)
        var previous: Float = -1
        for step in stride(from: 0, through: 200, by: 10) {
            let p = sigmoid.probability(atStep: step)
            #expect(p > previous && p <= 0.8)
            previous = p
        }
        #expect(sigmoid.probability(atStep: 200) > 0.79)
    }

    @Test("p = 1 in inference mode feeds the greedy predictions: the same logits as greedy decoding")
    func alwaysSamplingIsGreedy() {
        var model = ModelFixtures.model(Self.configuration, seed: 60)
        let batch = ModelFixtures.batch(Self.configuration, imageCount: 1, lengths: [5], seed: 61)
        var generator = SeededGenerator(seed: 62)
        let result = model.lossAndGradients(for: batch, mode: .inference, samplingProbability: 1, using: &generator)
        let expected = logSoftmaxRows(result.packedLogits)
        var state = model.encode(batch.images).initialState()
        var token = Vocabulary.startID
        var greedy: [Int32] = []
        for step in 0..<6 {
            let output = model.decodeStep(tokens: [token], state: state)
            assertClose(output.logProbabilities, expected.rows(step..<(step + 1)), absoluteTolerance: 1e-5,
                        relativeTolerance: 1e-5, name: "step \(step)")
            let scores = output.logProbabilities.scalars
            token = Int32(scores.indices.max { scores[$0] < scores[$1] }!)
            greedy.append(token)
            state = output.state
        }
        // The true words were never fed, so the loss is not teacher forcing's.
        var teacherModel = model
        let teacher = teacherModel.lossAndGradients(for: batch, mode: .inference, using: &generator)
        #expect(teacher.loss.total != result.loss.total || greedy.dropLast() == batch.captions[0].tokens)
    }

    @Test("p = 0 is teacher forcing exactly; 0 < p < 1 is reproducible from the seed")
    func reproducible() {
        let model = ModelFixtures.model(Self.configuration, seed: 63)
        let batch = ModelFixtures.batch(Self.configuration, imageCount: 2, lengths: [6, 4, 5, 6], seed: 64)
        func run(_ p: Float, seed: UInt64) -> ForwardBackwardResult {
            var copy = model
            var generator = SeededGenerator(seed: seed)
            return copy.lossAndGradients(for: batch, mode: .training, samplingProbability: p, using: &generator)
        }
        #expect(run(0, seed: 1).packedLogits == run(0, seed: 2).packedLogits)
        let first = run(0.5, seed: 3), again = run(0.5, seed: 3)
        #expect(first.packedLogits == again.packedLogits && first.loss == again.loss)
        #expect(first.packedLogits != run(0, seed: 3).packedLogits)
        // Gradients stay finite and the layout (targets) is the teacher-forced one.
        #expect(first.layout == run(0, seed: 3).layout)
        for path in model.parameterPaths { #expect(first.gradients[keyPath: path.gradient].scalars.allSatisfy { $0.isFinite }) }
    }
}
