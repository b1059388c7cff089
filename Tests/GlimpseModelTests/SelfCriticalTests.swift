import Foundation
import GlimpseData
import GlimpseLayers
import GlimpseModel
import GlimpseTensor
import GlimpseTestSupport
import Testing
import GlimpseText

@Suite("Self-critical training: sampled captions, the baseline of their siblings, a policy-gradient loss")
struct SelfCriticalTests {
    @Test("each caption's advantage is its reward minus the mean of the other captions of its image")
    func advantages() {
        let rewards = [1.0, 2.0, 6.0, 0.5, 0.5, 0.5]
        let advantages = SelfCritical.advantages(rewards: rewards, perImage: 3)
        let expected = [1 - 4.0, 2 - 3.5, 6 - 1.5, 0, 0, 0]
        for (a, e) in zip(advantages, expected) { #expect(abs(a - e) < 1e-12) }
        #expect(SelfCritical.advantages(rewards: [3, 4], perImage: 1) == [0, 0], "one sample has no baseline")
    }

    @Test("the weighted loss Σ_c w_c Σ_t −log p(y_ct) / captions has the decoder's gradient, and the frozen encoder none")
    func weightedLossGradients() {
        let configuration = ModelFixtures.tinyConfiguration(lambda: 0)
        var model = ModelFixtures.model(configuration, seed: 61)
        let batch = ModelFixtures.batch(configuration, imageCount: 2, lengths: [3, 1, 4, 2], seed: 62)
        let weights: [Float] = [0.8, -1.3, 0.4, -0.2]
        var generator = SeededGenerator(seed: 63)
        let result = model.lossAndGradients(for: batch, mode: .inference, computingImagesGradient: false,
                                            captionWeights: weights, trainingEncoder: false, using: &generator)
        /// The same loss from teacher-forced inference, one caption at a time.
        func weightedLoss(_ model: CaptioningModel) -> Double {
            var total = 0.0
            for (index, caption) in batch.captions.enumerated() {
                let single = CaptionBatch(images: batch.images, captions: [caption])
                total += Double(weights[index]) * Double(model.evaluateLoss(for: single).crossEntropy) * Double(caption.stepCount)
            }
            return total / Double(batch.captions.count)
        }
        #expect(abs(Double(result.loss.total) - weightedLoss(model)) < 1e-5)
        let checker = GradientChecker()
        for path in model.parameterPaths {
            if path.name.hasPrefix("encoder.") {
                #expect(result.gradients[keyPath: path.gradient].squaredNorm() == 0, "\(path.name) is frozen")
                continue
            }
            checker.check(path.name, analytic: result.gradients[keyPath: path.gradient], at: model[keyPath: path.parameter]) { value in
                var perturbed = model
                perturbed[keyPath: path.parameter] = value
                return weightedLoss(perturbed)
            }
        }
    }

    @Test("sampling draws the first word as often as the model gives it probability, and never a special token but <end>")
    func samplingFollowsTheModel() {
        let configuration = ModelFixtures.tinyConfiguration()
        let model = ModelFixtures.model(configuration, seed: 71)
        let images = ModelFixtures.batch(configuration, imageCount: 1, lengths: [1], seed: 72).images
        let encoded = model.encode(images)
        let first = model.decodeStep(tokens: [Vocabulary.startID], state: encoded.initialState())
        var probabilities = (0..<9).map { Double(exp(first.logProbabilities[0, $0])) }
        for special in [0, 1, 3] { probabilities[special] = 0 }
        let total = probabilities.reduce(0, +)
        probabilities = probabilities.map { $0 / total }

        var generator = SeededGenerator(seed: 73)
        let count = 20_000
        let samples = model.sampleCaptions(encoded, perImage: count, maximumLength: 5, using: &generator)
        #expect(samples.count == count)
        var firstWords = [Int](repeating: 0, count: 9)
        for caption in samples {
            #expect(caption.count <= 5)
            #expect(caption.allSatisfy { $0 >= 4 && $0 < 9 }, "only words inside a caption")
            firstWords[caption.first.map(Int.init) ?? Int(Vocabulary.endID)] += 1
        }
        for token in 0..<9 {
            let expected = probabilities[token] * Double(count)
            let spread = 4 * (expected * (1 - probabilities[token])).squareRoot() + 1
            #expect(abs(Double(firstWords[token]) - expected) <= spread, "token \(token): \(firstWords[token]) against \(expected)")
        }
        var again = SeededGenerator(seed: 73)
        #expect(model.sampleCaptions(encoded, perImage: count, maximumLength: 5, using: &again) == samples, "reproducible")
    }

    @Test("with equal rewards the loss is γ times the references' mean cross-entropy")
    func crossEntropyTerm() {
        let configuration = ModelFixtures.tinyConfiguration(lambda: 0)
        let model = ModelFixtures.model(configuration, seed: 91)
        let batch = ModelFixtures.batch(configuration, imageCount: 2, lengths: [3, 2, 4], seed: 92)
        let expected = 0.3 * model.evaluateLoss(for: batch).crossEntropy
        var trainer = Trainer(model: model, optimizer: Adam(learningRate: 0), maxGradientNorm: nil)
        var generator = SeededGenerator(seed: 93)
        let result = trainer.selfCriticalStep(images: batch.images, perImage: 3, maximumLength: 5, reward: { _, _ in 1 },
                                              references: batch.captions, crossEntropyWeight: 0.3, using: &generator)
        #expect(abs(result.loss - expected) < 1e-5, "\(result.loss) against \(expected)")
        #expect(result.meanReward == 1)
    }

    @Test("a self-critical step moves probability toward the captions with the higher reward")
    func stepPrefersRewardedCaptions() {
        let configuration = ModelFixtures.tinyConfiguration()
        let model = ModelFixtures.model(configuration, seed: 81)
        let images = ModelFixtures.batch(configuration, imageCount: 2, lengths: [1], seed: 82).images
        var trainer = Trainer(model: model, optimizer: Adam(learningRate: 0.05), maxGradientNorm: nil)
        // Reward: how often word 5 appears. The model should come to say it more.
        func reward(_ image: Int, _ caption: [Int32]) -> Double { Double(caption.filter { $0 == 5 }.count) }
        var generator = SeededGenerator(seed: 83)
        func meanReward(_ model: CaptioningModel) -> Double {
            var sampler = SeededGenerator(seed: 84)
            let samples = model.sampleCaptions(model.encode(images), perImage: 400, maximumLength: 6, using: &sampler)
            return samples.map { reward(0, $0) }.reduce(0, +) / Double(samples.count)
        }
        let before = meanReward(trainer.model)
        for _ in 0..<30 {
            _ = trainer.selfCriticalStep(images: images, perImage: 8, maximumLength: 6, reward: reward, using: &generator)
        }
        let after = meanReward(trainer.model)
        #expect(after > before + 0.3, "mean reward \(before) → \(after)")
        #expect(trainer.model.encoder.stages[0].conv1.weight == model.encoder.stages[0].conv1.weight, "the encoder is frozen")
    }
}
