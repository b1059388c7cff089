import GlimpseMetrics
import Testing

@Suite("CIDEr-D as a reward: single captions scored against a fixed corpus of references")
struct CIDErDRewardTests {
    /// Five images, word ids 4…13, two to three references each.
    static let references: [[[Int32]]] = [
        [[4, 5, 6, 7], [4, 5, 8], [9, 5, 6]],
        [[10, 11, 6, 7], [10, 11, 12]],
        [[4, 12, 13, 7, 6], [4, 12, 13]],
        [[9, 9, 9], [9, 10, 11, 12, 13]],
        [[5, 6, 7, 8, 9, 10], [5, 6, 7]],
    ]
    static let candidates: [[Int32]] = [[4, 5, 6], [10, 11, 13, 7], [4, 12, 6, 7], [9, 10], [5, 6, 7, 8, 11, 12]]

    @Test("each candidate scores what the evaluator gives it in an evaluation of the whole corpus")
    func agreesWithTheEvaluator() throws {
        func text(_ ids: [Int32]) -> String { ids.map { "w\($0)" }.joined(separator: " ") }
        var references: [String: [String]] = [:], candidates: [String: String] = [:]
        for index in Self.references.indices {
            references["\(index)"] = Self.references[index].map(text)
            candidates["\(index)"] = text(Self.candidates[index])
        }
        let scores = try CaptionEvaluator.evaluate(tokenizedReferences: references, tokenizedCandidates: candidates)
        var reward = CIDErDReward(references: Self.references)
        #expect(reward.imageCount == 5)
        for index in Self.references.indices {
            let expected = scores.perImage["\(index)"]!.ciderD
            let actual = reward.score(Self.candidates[index], image: index)
            #expect(abs(actual - expected) < 1e-12, "image \(index): \(actual) against \(expected)")
        }
        // Scoring is repeatable: n-grams first seen in a candidate change nothing after.
        #expect(reward.score(Self.candidates[1], image: 1) == reward.score(Self.candidates[1], image: 1))
        #expect(scores.perImage.values.contains { $0.ciderD > 0.5 }, "the set is not degenerate")
    }

    @Test("a reference scores above a caption of other images' words, and an empty caption scores 0")
    func ordering() {
        var reward = CIDErDReward(references: Self.references)
        #expect(reward.score([4, 12, 13], image: 2) > reward.score([10, 11, 9], image: 2))
        #expect(reward.score([], image: 0) == 0)
        #expect(reward.score([99, 98], image: 0) == 0, "words no reference uses share nothing")
    }
}
