import Foundation
import GlimpseData
import GlimpseModel
import GlimpseTensor
import Testing
import GlimpseText

@Suite("Greedy and beam-search captioning")
struct CaptionSearchTests {
    static let configuration = ModelFixtures.tinyConfiguration()

    func images(_ count: Int, seed: UInt64) -> Tensor {
        var generator = SeededGenerator(seed: seed)
        let size = Self.configuration.imageSize
        return Tensor(randomNormal: [count, 3, size, size], using: &generator)
    }

    /// Greedy decoding written out step by step with decodeStep.
    func manualGreedy(_ model: CaptioningModel, _ images: Tensor, maximumLength: Int) -> [[Int32]] {
        let encoded = model.encode(images)
        var results: [[Int32]] = []
        for image in 0..<encoded.imageCount {
            var state = encoded.initialState(imageIndices: [image])
            var previous = Vocabulary.startID
            var tokens: [Int32] = []
            for _ in 0..<maximumLength {
                let output = model.decodeStep(tokens: [previous], state: state)
                var best: Int32 = -1
                var bestValue = -Float.infinity
                for word in 0..<Self.configuration.vocabularySize where word != 0 && word != 1 {
                    if output.logProbabilities[0, word] > bestValue { bestValue = output.logProbabilities[0, word]; best = Int32(word) }
                }
                if best == Vocabulary.endID { break }
                tokens.append(best)
                previous = best
                state = output.state
            }
            results.append(tokens)
        }
        return results
    }

    /// The log-probability of a caption (ending with <end> when `complete`).
    func logProbability(_ model: CaptioningModel, image: Tensor, tokens: [Int32], complete: Bool) -> Double {
        let encoded = model.encode(image)
        var state = encoded.initialState()
        var total = 0.0
        let sequence = tokens + (complete ? [Vocabulary.endID] : [])
        var previous = Vocabulary.startID
        for token in sequence {
            let output = model.decodeStep(tokens: [previous], state: state)
            total += Double(output.logProbabilities[0, Int(token)])
            previous = token
            state = output.state
        }
        return total
    }

    @Test("beam size 1 is greedy decoding")
    func greedy() {
        let model = ModelFixtures.model(Self.configuration, seed: 81)
        let batch = images(4, seed: 82)
        let results = model.caption(batch, options: DecodingOptions(beamSize: 1, maximumLength: 6))
        #expect(results.map(\.best.tokens) == manualGreedy(model, batch, maximumLength: 6))
    }

    @Test("a wide beam finds the most probable caption (checked by enumerating every caption up to length 3)")
    func beamIsExhaustiveWhenWide() {
        let model = ModelFixtures.model(Self.configuration, seed: 83)
        let image = images(1, seed: 84)
        let words = (3..<Self.configuration.vocabularySize).map { Int32($0) }  // <unk> and the words
        var best = -Double.infinity
        var candidates: [[Int32]] = [[]]
        for length in 1...2 { candidates += product(words, length) }
        for tokens in candidates { best = max(best, logProbability(model, image: image, tokens: tokens, complete: true)) }
        // Length-3 captions that are cut (no <end>) compete too: the search keeps the best complete ones first.
        let result = model.caption(image, options: DecodingOptions(beamSize: 400, maximumLength: 3))[0]
        #expect(result.best.isComplete)
        #expect(abs(result.best.logProbability - best) < 1e-4, "search \(result.best.logProbability), enumerated \(best)")
        #expect(abs(result.best.logProbability - logProbability(model, image: image, tokens: result.best.tokens, complete: true)) < 1e-4)
    }

    func product(_ words: [Int32], _ length: Int) -> [[Int32]] {
        length == 0 ? [[]] : product(words, length - 1).flatMap { prefix in words.map { prefix + [$0] } }
    }

    @Test("batched over images it gives what each image gives alone, and the same every time")
    func batchedAndDeterministic() {
        let model = ModelFixtures.model(Self.configuration, seed: 85)
        let batch = images(3, seed: 86)
        let options = DecodingOptions(beamSize: 3, maximumLength: 8, nBest: 3)
        let together = model.caption(batch, options: options)
        for image in 0..<3 {
            let alone = model.caption(batch.rows(image..<(image + 1)), options: options)[0]
            #expect(alone.hypotheses.map(\.tokens) == together[image].hypotheses.map(\.tokens))
        }
        #expect(model.caption(batch, options: options).map { $0.hypotheses.map(\.tokens) } == together.map { $0.hypotheses.map(\.tokens) })
    }

    @Test("n-best lists come best first, with the scores they were ranked by")
    func nBest() {
        let model = ModelFixtures.model(Self.configuration, seed: 87)
        let result = model.caption(images(1, seed: 88), options: DecodingOptions(beamSize: 4, maximumLength: 6, nBest: 4))[0]
        #expect(result.hypotheses.count == 4)
        let complete = result.hypotheses.filter(\.isComplete)
        #expect(zip(complete, complete.dropFirst()).allSatisfy { $0.score >= $1.score })
        #expect(Set(result.hypotheses.map(\.tokens)).count == 4)
        let normalized = model.caption(images(1, seed: 88), options: DecodingOptions(beamSize: 4, maximumLength: 6,
                                                                                     lengthNormalization: 1, nBest: 4))[0]
        for hypothesis in normalized.hypotheses where hypothesis.isComplete {
            #expect(abs(hypothesis.score - hypothesis.logProbability / Double(hypothesis.tokens.count + 1)) < 1e-9)
        }
    }

    @Test("a caption always comes back, even when nothing ends before the maximum length")
    func alwaysACaption() {
        var model = ModelFixtures.model(Self.configuration, seed: 89)
        // Make <end> very unlikely.
        model.decoder.output.bias![Int(Vocabulary.endID)] = -50
        let results = model.caption(images(2, seed: 90), options: DecodingOptions(beamSize: 3, maximumLength: 5))
        for result in results {
            #expect(!result.best.isComplete)
            #expect(result.best.tokens.count == 5)
        }
    }

    @Test("<unk> can be suppressed")
    func suppressUnknown() {
        var model = ModelFixtures.model(Self.configuration, seed: 91)
        model.decoder.output.bias![Int(Vocabulary.unknownID)] = 20
        let plain = model.caption(images(2, seed: 92), options: DecodingOptions(beamSize: 2, maximumLength: 4, nBest: 2))
        #expect(plain.allSatisfy { $0.hypotheses.contains { $0.tokens.contains(Vocabulary.unknownID) } })
        let suppressed = model.caption(images(2, seed: 92), options: DecodingOptions(beamSize: 2, maximumLength: 4, nBest: 2,
                                                                                     suppressUnknown: true))
        #expect(suppressed.allSatisfy { $0.hypotheses.allSatisfy { !$0.tokens.contains(Vocabulary.unknownID) } })
    }

    @Test("the attention of every word of the chosen caption: one distribution over the grid per word")
    func attention() {
        let model = ModelFixtures.model(Self.configuration, seed: 93)
        let result = model.caption(images(2, seed: 94), options: DecodingOptions(beamSize: 3, maximumLength: 6, keepsAttention: true))
        for caption in result {
            #expect(caption.best.attention.count == caption.best.tokens.count)
            for weights in caption.best.attention {
                #expect(weights.count == Self.configuration.locationCount)
                #expect(abs(weights.reduce(0, +) - 1) < 1e-4)
            }
        }
        let without = model.caption(images(2, seed: 94), options: DecodingOptions(beamSize: 3, maximumLength: 6))
        #expect(without.allSatisfy { $0.best.attention.isEmpty })
    }
}
