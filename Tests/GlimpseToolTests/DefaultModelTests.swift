import Foundation
import Testing

/// The model that ships with Glimpse: found without --model, and still as good on the
/// committed samples as when it was shipped (a changed file, a broken lookup or a
/// preprocessing change that silently degrades captions fails here).
@Suite("The shipped default model")
struct DefaultModelTests {
    static let samples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("samples").path

    @Test("captions a sample with no --model flag")
    func captionsWithoutFlag() throws {
        let outcome = try ToolRunner.run(["caption", Self.samples + "/Images/synth-000009.jpg"])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        let caption = outcome.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(caption.split(separator: " ").count >= 3, "caption: \(caption)")
        #expect(caption.contains("white") && caption.contains("circle"), "caption: \(caption)")
    }

    @Test("scores on the ten samples as when it shipped (beam 3: BLEU-4 0.97, CIDEr-D 6.06, every object right in 9 of 10)")
    func qualityOnSamples() throws {
        let outcome = try ToolRunner.run(["evaluate", Self.samples, "--split", "all", "--beam", "3", "--json"])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        let scores = try #require(try JSONSerialization.jsonObject(with: Data(outcome.standardOutput.utf8)) as? [String: Any])
        #expect(scores["images"] as? Int == 10)
        // The same model, images and search give the same captions; float rounding may
        // move a score in its last digits, never by 0.01.
        let bleu4 = try #require(scores["Bleu_4"] as? Double), cider = try #require(scores["CIDEr"] as? Double)
        #expect(abs(bleu4 - 0.96507) < 0.01, "BLEU-4 \(bleu4)")
        #expect(abs(cider - 6.05759) < 0.01, "CIDEr-D \(cider)")
        // samples/ground_truth.jsonl: the content scores. Sample 7's black triangle is called blue.
        let content = try #require(scores["content"] as? [String: Any])
        #expect(content["exact_match"] as? Double == 0.9, "\(content)")
        #expect(content["shape_precision"] as? Double == 1, "\(content)")
    }
}
