import Foundation
import GlimpseData
import GlimpseImage
import GlimpseModel
import GlimpseTensor
import Testing
import GlimpseText

@Suite("glimpse evaluate")
struct EvaluateCommandTests {
    /// A Karpathy-layout dataset: three test images (a.png and c.png with COCO ids, b.png
    /// named by file; c.png is not an image), one training image; and a tiny random model.
    func fixture() throws -> (folder: ScratchFolder, model: String) {
        let folder = try ScratchFolder()
        try folder.write(Array("""
            {"images": [
              {"filename": "a.png", "cocoid": 101, "split": "test",
               "sentences": [{"raw": "A red square."}, {"raw": "a red square on blue"}]},
              {"filename": "b.png", "split": "test",
               "sentences": [{"raw": "A blue circle."}, {"raw": "blue circle"}]},
              {"filename": "c.png", "cocoid": 103, "split": "test", "sentences": [{"raw": "A square."}]},
              {"filename": "d.png", "split": "train", "sentences": [{"raw": "A red circle."}]}
            ]}
            """.utf8), to: "dataset_tiny.json")
        try folder.write(Array("not an image\n".utf8), to: "images/c.png")
        for (index, name) in ["a.png", "b.png", "d.png"].enumerated() {
            let (width, height) = (12 + index, 10)
            let pixels = (0..<(width * height * 3)).map { UInt8(truncatingIfNeeded: $0 * (7 + index) + index * 40) }
            try PNGWriter.write(pixels: pixels, width: width, height: height, channels: 3, to: folder.path + "/images/" + name)
        }

        let configuration = try ModelConfiguration(vocabularySize: 9, imageSize: 8, stageChannels: [2, 3], embeddingSize: 3,
                                                   attentionSize: 3, hiddenSize: 4, dropout: 0)
        var generator = SeededGenerator(seed: 5)
        let checkpoint = Checkpoint(model: CaptioningModel(configuration: configuration, using: &generator),
                                    vocabulary: try Vocabulary(tokens: Vocabulary.specialTokens + ["a", "red", "square", "blue", "circle"]),
                                    preprocessing: Preprocessing(imageSize: 8))
        let model = folder.path + "/model.safetensors"
        try checkpoint.write(to: model)
        return (folder, model)
    }

    @Test("captions the split, prints metrics and settings as JSON, writes predictions that glimpse score reads")
    func evaluates() throws {
        let (folder, model) = try fixture()
        let predictions = folder.path + "/predictions.json", perImage = folder.path + "/per-image.jsonl"
        let outcome = try ToolRunner.run(["evaluate", "--model", model, folder.path, "--beam", "2", "--max-length", "5",
                                          "--batch-size", "2", "--output", predictions, "--per-image", perImage, "--json"])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(outcome.standardOutput.utf8)) as? [String: Any])
        #expect(summary["images"] as? Int == 2)
        #expect(summary["images_in_split"] as? Int == 3)
        #expect(summary["unreadable_images"] as? Int == 1)
        #expect(summary["beam"] as? Int == 2 && summary["max_length"] as? Int == 5)
        #expect(summary["length_normalization"] is NSNull)
        #expect(summary["model"] as? String == model)
        #expect(summary["split"] as? String == "test")
        for metric in ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "ROUGE_L", "CIDEr"] { #expect(summary[metric] is Double, "\(metric)") }
        #expect(outcome.standardError.contains("c.png"))
        #expect(summary["content"] == nil, "no ground truth, no content scores")
        #expect(try String(contentsOfFile: perImage, encoding: .utf8).split(separator: "\n").count == 2)

        // COCO ids as numbers, other images by file name.
        let written = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: predictions))) as? [[String: Any]])
        #expect(written.count == 2)
        #expect(written.contains { ($0["image_id"] as? Int) == 101 && !($0["image_id"] is String) })
        #expect(written.contains { ($0["image_id"] as? String) == "b.png" })

        let scored = try ToolRunner.run(["score", predictions, folder.path])
        #expect(scored.status == 0, "\(scored.standardError)")
        let rescored = try #require(try JSONSerialization.jsonObject(with: Data(scored.standardOutput.utf8)) as? [String: Any])
        for metric in ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "ROUGE_L", "CIDEr", "images", "images_in_split"] {
            #expect((rescored[metric] as? NSNumber) == (summary[metric] as? NSNumber), "\(metric)")
        }
    }

    @Test("greedy decoding with length normalisation is reported; a missing model is an error")
    func settingsAndErrors() throws {
        let (folder, model) = try fixture()
        let outcome = try ToolRunner.run(["evaluate", "--model", model, folder.path, "--beam", "1", "--length-normalization", "0.7", "--json"])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(outcome.standardOutput.utf8)) as? [String: Any])
        #expect(summary["beam"] as? Int == 1 && summary["length_normalization"] as? Double == 0.7)

        let missing = try ToolRunner.run(["evaluate", "--model", folder.path + "/nope.safetensors", folder.path])
        #expect(missing.status == 1)
        #expect(missing.standardError.contains("nope.safetensors"))
    }

    @Test("prints a table for people by default: model, split and images, search, each metric as --json has it")
    func table() throws {
        let (folder, model) = try fixture()
        let arguments = ["evaluate", "--model", model, folder.path, "--beam", "2", "--max-length", "5", "--batch-size", "2"]
        let outcome = try ToolRunner.run(arguments)
        #expect(outcome.status == 0, "\(outcome.standardError)")
        #expect((try? JSONSerialization.jsonObject(with: Data(outcome.standardOutput.utf8))) == nil, "not JSON")
        let lines = outcome.outputLines
        #expect(lines.prefix(3) == ["model    \(model)", "split    test: 2 of 3 images scored (1 could not be read)",
                                    "search   beam 2, at most 5 words"], "\(lines)")
        #expect(lines.contains("(METEOR and SPICE are not computed; --json prints these figures as JSON.)"))

        let json = try ToolRunner.run(arguments + ["--json"])
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
        for (name, key) in [("BLEU-1", "Bleu_1"), ("BLEU-2", "Bleu_2"), ("BLEU-3", "Bleu_3"), ("BLEU-4", "Bleu_4"),
                            ("ROUGE-L", "ROUGE_L"), ("CIDEr-D", "CIDEr")] {
            let value = try #require(summary[key] as? Double, "\(key)")
            let row = name.padding(toLength: 9, withPad: " ", startingAt: 0) + String(format: "%.4f", value)
            #expect(lines.contains(row), "\(row) not in \(lines)")
        }

        // Greedy, with length normalisation and <unk> allowed, all said.
        let greedy = try ToolRunner.run(["evaluate", "--model", model, folder.path, "--beam", "1", "--max-length", "1",
                                         "--length-normalization", "0.7", "--allow-unknown"])
        #expect(greedy.outputLines.contains("search   greedy, at most 1 word, length normalization 0.7, <unk> allowed"),
                "\(greedy.outputLines)")
    }

    @Test("warns when a split has too few images for its metrics to mean anything, and not when it has enough")
    func fewImages() throws {
        let (folder, model) = try fixture()
        let few = try ToolRunner.run(["evaluate", "--model", model, folder.path, "--json"])
        #expect(few.status == 0, "\(few.standardError)")
        #expect(few.standardError.contains("glimpse: warning: only 2 scored images: BLEU, ROUGE-L and CIDEr-D over so few "
                                           + "will be noise (25 or more give figures worth comparing)"), "\(few.standardError)")

        let scratch = try ScratchFolder()
        let data = scratch.path + "/data"
        #expect(try ToolRunner.run(["synth", data, "--count", "25", "--seed", "3"]).status == 0)
        try TinyModel.write(to: scratch.path + "/model.safetensors")
        let enough = try ToolRunner.run(["evaluate", "--model", scratch.path + "/model.safetensors", data, "--split", "all",
                                         "--beam", "1", "--max-length", "3"])
        #expect(enough.status == 0, "\(enough.standardError)")
        #expect(enough.outputLines.contains("split    all: 25 of 25 images scored"), "\(enough.outputLines)")
        #expect(!enough.standardError.contains("warning"), "\(enough.standardError)")
        // Ground truth: the content scores in the table, not repeated on standard error.
        #expect(enough.outputLines.contains { $0.hasPrefix("content  every object right in ") }, "\(enough.outputLines)")
        #expect(!enough.standardError.contains("content:"))
    }
}
