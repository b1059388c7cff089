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

    @Test("a malformed predictions file is explained, with the format score reads and what writes it")
    func malformed() throws {
        let folder = try dataset()
        // An object alone, an empty file, and evaluate's own summary (a common mix-up).
        for (text, said) in [("{\"image_id\": 1}", "found a JSON object with keys \"image_id\", not an array"),
                             ("\n", "the file is empty"),
                             ("{\"Bleu_1\": 0.5, \"CIDEr\": 1.2}", "found a JSON object with keys \"Bleu_1\", \"CIDEr\", not an array")] {
            try folder.write(Array(text.utf8), to: "predictions.json")
            let outcome = try ToolRunner.run(["score", folder.path + "/predictions.json", folder.path])
            #expect(outcome.status == 1)
            #expect(outcome.standardError.contains(folder.path + "/predictions.json: " + said), "\(outcome.standardError)")
            #expect(outcome.standardError.contains("glimpse score reads the COCO results format, one JSON array of "
                                                   + "{\"image_id\", \"caption\"} objects"), "\(outcome.standardError)")
            #expect(outcome.standardError.contains("`glimpse batch FOLDER --format coco --output FILE`"))
        }
    }

    @Test("glimpse batch's JSON Lines records are refused: the message names the format wanted and how to write it")
    func batchJSONLines() throws {
        let folder = try dataset()
        // As `glimpse batch --format jsonl` writes them: a path relative to the folder captioned,
        // which need not be an image id of the dataset; a failed image has no caption.
        try folder.write(Array("""
            {"path":"Images/a.jpg","caption":"a dog runs","logprob":-2.5}
            {"path":"Images/b.jpg","error":"cannot read file"}

            """.utf8), to: "batch.jsonl")
        let outcome = try ToolRunner.run(["score", folder.path + "/batch.jsonl", folder.path])
        #expect(outcome.status == 1)
        #expect(!outcome.standardError.contains("invalid JSON"), "\(outcome.standardError)")
        #expect(outcome.standardError.contains("batch.jsonl: JSON Lines whose records have no \"image_id\" "
                                               + "(line 1 has keys \"caption\", \"logprob\", \"path\"), "
                                               + "as `glimpse batch --format jsonl` writes them"), "\(outcome.standardError)")
        #expect(outcome.standardError.contains("--format coco --output FILE"))
        #expect(outcome.standardError.contains("`glimpse evaluate DATA_DIR --output FILE`"))
    }

    @Test("JSON Lines of {image_id, caption} objects score exactly as the same objects in an array")
    func cocoJSONLines() throws {
        let folder = try dataset()
        let entries = [#"{"image_id": "a.jpg", "caption": "a dog runs on the grass"}"#,
                       #"{"image_id": "b.jpg", "caption": "two cats on a sofa"}"#,
                       #"{"image_id": "c.jpg", "caption": "a red car"}"#]
        try folder.write(Array(("[" + entries.joined(separator: ",\n") + "]\n").utf8), to: "array.json")
        try folder.write(Array((entries.joined(separator: "\n") + "\n").utf8), to: "lines.jsonl")
        var summaries: [[String: Any]] = []
        for name in ["array.json", "lines.jsonl"] {
            let outcome = try ToolRunner.run(["score", folder.path + "/" + name, folder.path, "--split", "all"])
            #expect(outcome.status == 0, "\(outcome.standardError)")
            summaries.append(try #require(try JSONSerialization.jsonObject(with: Data(outcome.standardOutput.utf8)) as? [String: Any]))
        }
        #expect(summaries[1]["images"] as? Int == 3 && summaries[1]["missing_predictions"] as? Int == 1)
        for metric in ["Bleu_1", "Bleu_4", "ROUGE_L", "CIDEr", "images"] {
            #expect(summaries[0][metric] as? NSNumber == summaries[1][metric] as? NSNumber, "\(metric)")
        }

        // A line that is not such an object is named by its number.
        try folder.write(Array((entries[0] + "\n" + #"{"image_id": "b.jpg"}"# + "\n").utf8), to: "broken.jsonl")
        let broken = try ToolRunner.run(["score", folder.path + "/broken.jsonl", folder.path])
        #expect(broken.status == 1)
        #expect(broken.standardError.contains("broken.jsonl: line 2 has no \"caption\" string"), "\(broken.standardError)")
    }

    @Test("scoring a handful of images warns that the metrics are noise")
    func fewImagesWarning() throws {
        let folder = try dataset()
        try folder.write(Array(#"[{"image_id": "a.jpg", "caption": "a dog runs"}]"#.utf8), to: "one.json")
        let outcome = try ToolRunner.run(["score", folder.path + "/one.json", folder.path, "--split", "all"])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        #expect(outcome.standardError.contains("glimpse: warning: only 1 scored image: BLEU, ROUGE-L and CIDEr-D over so few "
                                               + "will be noise (25 or more give figures worth comparing)"), "\(outcome.standardError)")
        #expect(outcome.standardError.contains("glimpse: 3 images have no prediction: "), "\(outcome.standardError)")
    }
}
