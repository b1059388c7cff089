import Testing
@testable import GlimpseMetrics

@Suite("Mismatched image sets are rejected with the offending ids")
struct ImageSetErrorTests {
    @Test func aCandidateForAnUnknownImageIsNamed() {
        #expect(throws: MetricsError.candidatesForUnknownImages(["7", "9"])) {
            try CaptionEvaluator.evaluate(references: ["1": ["a dog"]],
                                          candidates: ["1": "a dog", "9": "a cat", "7": "a cow"])
        }
    }

    @Test func anImageWithoutACandidateIsNamed() {
        #expect(throws: MetricsError.imagesWithoutCandidates(["2"])) {
            try CaptionEvaluator.evaluate(references: ["1": ["a dog"], "2": ["a cat"]],
                                          candidates: ["1": "a dog"])
        }
    }

    @Test func anImageWithAnEmptyReferenceListIsNamed() {
        #expect(throws: MetricsError.imagesWithoutReferences(["2"])) {
            try CaptionEvaluator.evaluate(references: ["1": ["a dog"], "2": []],
                                          candidates: ["1": "a dog", "2": "a cat"])
        }
    }

    @Test func anEmptyEvaluationIsAnError() {
        #expect(throws: MetricsError.noImages) {
            try CaptionEvaluator.evaluate(references: [:], candidates: [:])
        }
    }

    @Test func theMessageListsAtMostTenIds() {
        let ids = (0..<12).map { "img\($0)" }.sorted()
        let message = MetricsError.imagesWithoutCandidates(ids).description
        #expect(message.contains("\"img0\""))
        #expect(message.contains("2 more"))
        #expect(!message.contains("\"\(ids[11])\""))
    }
}

@Suite("METEOR and SPICE are never reported")
struct UncomputedMetricTests {
    @Test func meteorAndSpiceHaveNoValue() throws {
        let scores = try CaptionEvaluator.evaluate(references: ["1": ["a dog"]], candidates: ["1": "a dog"])
        #expect(scores.value(of: .meteor) == nil)
        #expect(scores.value(of: .spice) == nil)
        #expect(scores.perImage["1"]?.value(of: .spice) == nil)
        #expect(scores.imagesRanked(by: .meteor).isEmpty)
        #expect(CaptionMetric.allCases.filter { !$0.isComputed } == [.meteor, .spice])
    }
}
