import Foundation
import Testing

@Suite("glimpse score")
struct ScoreCommandTests {
    /// A Kaggle-layout dataset of four images (no image files needed for scoring).
    func dataset() throws -> ScratchFolder {
        let folder = try ScratchFolder()
        try folder.write(Array("""
            image,caption
            a.jpg,A dog runs on the grass.
            a.jpg,A brown dog running.
            b.jpg,Two cats sleep on a sofa.
            b.jpg,Cats asleep on a couch.
            c.jpg,A red car in the street.
            d.jpg,A man rides a bike.

            """.utf8), to: "captions.txt")
        return folder
    }

    @Test("scores predictions in the COCO results format and reports what does not line up")
    func scores() throws {
        let folder = try dataset()
        // Small datasets: every image lands somewhere; score the training split, which holds most.
        try folder.write(Array("""
            [{"image_id": "a.jpg", "caption": "a dog runs on the grass"},
             {"image_id": "b.jpg", "caption": "two cats on a sofa"},
             {"image_id": "c.jpg", "caption": "a red car"},
             {"image_id": "d.jpg", "caption": "a man on a bike"},
             {"image_id": "zzz.jpg", "caption": "nothing"}]
            """.utf8), to: "predictions.json")
        let outcome = try ToolRunner.run(["score", folder.path + "/predictions.json", folder.path, "--split", "train",
                                          "--per-image", folder.path + "/per-image.jsonl"])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(outcome.standardOutput.utf8)) as? [String: Any])
        // With four images, one lands in validation and one in test: the other split's
        // predictions count as unknown for this one, like zzz.jpg.
        let scored = try #require(summary["images"] as? Int), unknown = try #require(summary["unknown_predictions"] as? Int)
        #expect(scored == 2 && scored + unknown == 5)
        let bleu4 = try #require(summary["Bleu_4"] as? Double)
        #expect(bleu4 > 0 && bleu4 <= 1)
        #expect(summary["CIDEr"] is Double && summary["ROUGE_L"] is Double)
        #expect(summary["METEOR"] == nil && summary["SPICE"] == nil)
        #expect(outcome.standardError.contains("name images not in the train split:"))
        #expect(outcome.standardError.contains("zzz.jpg"))
        let perImage = try String(contentsOfFile: folder.path + "/per-image.jsonl", encoding: .utf8)
        #expect(perImage.split(separator: "\n").count == summary["images"] as? Int)

        let strict = try ToolRunner.run(["score", folder.path + "/predictions.json", folder.path, "--split", "train", "--strict"])
        #expect(strict.status == 1)

        // --split all covers every image, whatever split it was drawn into.
        let all = try ToolRunner.run(["score", folder.path + "/predictions.json", folder.path, "--split", "all"])
        let allSummary = try #require(try JSONSerialization.jsonObject(with: Data(all.standardOutput.utf8)) as? [String: Any])
        #expect(allSummary["images"] as? Int == 4 && allSummary["unknown_predictions"] as? Int == 1)
        #expect(allSummary["split"] as? String == "all")
    }

    @Test("glimpse batch FOLDER --format coco, then glimpse score on the same FOLDER: every id lines up")
    func batchThenScore() throws {
        let (scratch, model) = try TinyModel.folder()
        let samples = DefaultModelTests.samples
        let predictions = scratch.path + "/p.json"
        let batch = try ToolRunner.run(["batch", samples, "--model", model, "--format", "coco", "--output", predictions])
        #expect(batch.status == 0, "\(batch.standardError)")
        // Paths relative to the folder batch was given, as in any batch output.
        let array = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: predictions))) as? [[String: Any]])
        #expect(array.count == 10 && array.allSatisfy { ($0["image_id"] as? String)?.hasPrefix("Images/synth-") == true })

        let all = try ToolRunner.run(["score", predictions, samples, "--split", "all", "--strict"])
        #expect(all.status == 0, "\(all.standardError)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(all.standardOutput.utf8)) as? [String: Any])
        #expect(summary["images"] as? Int == 10 && summary["unknown_predictions"] as? Int == 0
                && summary["missing_predictions"] as? Int == 0, "\(summary)")

        // The default split: its images line up; the others' predictions are reported, not scored.
        let test = try ToolRunner.run(["score", predictions, samples])
        #expect(test.status == 0, "\(test.standardError)")
        let testSummary = try #require(try JSONSerialization.jsonObject(with: Data(test.standardOutput.utf8)) as? [String: Any])
        let inSplit = try #require(testSummary["images_in_split"] as? Int)
        #expect(inSplit > 0 && testSummary["images"] as? Int == inSplit && testSummary["missing_predictions"] as? Int == 0)
        #expect(testSummary["unknown_predictions"] as? Int == 10 - inSplit)
        #expect(test.standardError.contains("glimpse: \(10 - inSplit) predictions are for images of the other splits, left out "
                                            + "of the test split's scores; --split all scores every image"), "\(test.standardError)")
    }

    @Test("a malformed predictions file is explained")
    func malformed() throws {
        let folder = try dataset()
        try folder.write(Array("{\"image_id\": 1}".utf8), to: "predictions.json")
        let outcome = try ToolRunner.run(["score", folder.path + "/predictions.json", folder.path])
        #expect(outcome.status == 1)
        #expect(outcome.standardError.contains("expected a JSON array"))
    }
}
