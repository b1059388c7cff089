import Testing
import GlimpseMetrics
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Hand-checkable properties of the three scorers, as pycocoevalcap computes them.
@Suite("BLEU, ROUGE-L and CIDEr-D on small hand-made sets")
struct ScorerSpecificationTests {
    func score(_ references: [String: [String]], _ candidates: [String: String]) throws -> CaptionScores {
        try CaptionEvaluator.evaluate(tokenizedReferences: references, tokenizedCandidates: candidates)
    }

    @Test("BLEU picks the closest reference length and, on a tie, the shorter")
    func bleuClosestReferenceLength() throws {
        // Candidate of 3 words, references of 2 and 4 words: tie at distance 1, so 2 is used,
        // the length ratio is 1.5 and there is no brevity penalty. With 4 it would be exp(1 - 4/3).
        let scores = try score(["x": ["a b", "a b c d"]], ["x": "a b c"])
        #expect(abs(scores.bleu1 - 1) < 1e-8)
        #expect(abs(scores.perImage["x"]!.bleu1 - 1) < 1e-8)
    }

    @Test("BLEU applies the brevity penalty exp(1 - r/c) to a short candidate")
    func bleuBrevityPenalty() throws {
        let scores = try score(["x": ["a b c d"]], ["x": "a b"])
        let expected = exp(1 - 4.0 / 2.0)  // both unigrams match: precision 1
        #expect(abs(scores.bleu1 - expected) < 1e-8)
    }

    @Test("BLEU clips repeated n-grams at their count in the references")
    func bleuClipping() throws {
        // "the" x7 against references holding "the" at most twice: precision 2/7.
        let scores = try score(["x": ["the cat is on the mat", "there is a cat on the mat"]],
                               ["x": "the the the the the the the"])
        #expect(abs(scores.bleu1 - 2.0 / 7.0) < 1e-8)
    }

    @Test("An empty candidate scores 0 everywhere")
    func emptyCandidate() throws {
        let scores = try score(["x": ["a dog"], "y": ["a cat"]], ["x": "", "y": "a cat"])
        let image = scores.perImage["x"]!
        #expect(image.bleu1 == 0 && image.bleu4 == 0 && image.rougeL == 0 && image.ciderD == 0)
    }

    @Test("ROUGE-L takes the best precision and the best recall over references separately")
    func rougeMaxima() throws {
        // Reference 1 gives recall 1 (precision 1/2), reference 2 gives precision 1 (recall 1/2):
        // the F-measure of the two maxima is 1 though neither reference matches fully.
        let scores = try score(["x": ["a b", "a b c d e f g h"]], ["x": "a b c d"])
        #expect(abs(scores.rougeL - 1) < 1e-12)
    }

    @Test("ROUGE-L is the F-measure with beta 1.2")
    func rougeBeta() throws {
        // LCS 2 of a 4-word candidate and a 2-word reference: P = 0.5, R = 1.
        let scores = try score(["x": ["a b"]], ["x": "a b c d"])
        let (p, r, beta2) = (0.5, 1.0, 1.2 * 1.2)
        #expect(abs(scores.rougeL - (1 + beta2) * p * r / (r + beta2 * p)) < 1e-12)
    }

    @Test("CIDEr-D of a single image is 0: every idf is log(1) - log(1)")
    func ciderSingleImage() throws {
        let scores = try score(["x": ["a dog on a couch"]], ["x": "a dog on a couch"])
        #expect(scores.ciderD == 0)
    }

    @Test("CIDEr-D rewards a caption that uses the words specific to its image")
    func ciderPrefersSpecificWords() throws {
        let references = ["x": ["a dog on a red couch", "a brown dog lying on a couch"],
                          "y": ["a cat on a bed", "a white cat sleeping on a bed"],
                          "z": ["a bus on a street", "a red bus driving down a street"]]
        let specific = try score(references, ["x": "a dog on a couch", "y": "a cat on a bed", "z": "a bus on a street"])
        let generic = try score(references, ["x": "a thing on a couch", "y": "a cat on a bed", "z": "a bus on a street"])
        #expect(specific.perImage["x"]!.ciderD > generic.perImage["x"]!.ciderD)
        #expect(specific.imagesRanked(by: .ciderD).count == 3)
        #expect(generic.imagesRanked(by: .ciderD).first == "x")
    }

    @Test("Scores are reported per image alongside the tokenized captions")
    func perImageDetails() throws {
        let scores = try CaptionEvaluator.evaluate(references: ["7": ["A Dog.", "A brown dog!"]], candidates: ["7": "A dog."])
        #expect(scores.perImage["7"]?.tokenizedCandidate == "a dog")
        #expect(scores.perImage["7"]?.tokenizedReferences == ["a dog", "a brown dog"])
    }
}
