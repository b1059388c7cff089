import Foundation
import GlimpseSynth
import Testing

@Suite("Content scores in glimpse synth, score, evaluate and train")
struct ContentCommandTests {
    func synth(_ scratch: ScratchFolder, count: Int = 12, seed: Int = 6) throws -> String {
        let folder = scratch.path + "/data"
        let outcome = try ToolRunner.run(["synth", folder, "--count", "\(count)", "--seed", "\(seed)"])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        return folder
    }

    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test("glimpse synth writes the ground truth beside the captions")
    func synthWritesGroundTruth() throws {
        let scratch = try ScratchFolder()
        let folder = try synth(scratch)
        let truths = try GroundTruthFile.read(folder + "/ground_truth.jsonl")
        #expect(truths.count == 12)
        let dataset = SyntheticDataset(count: 12, seed: 6)
        for index in 0..<12 {
            let item = dataset.item(index)
            #expect(truths[item.fileName]?.objects.map(\.shape) == item.scene.objects.map(\.kind))
        }
    }

    @Test("glimpse score: the references themselves score 100%; a wrong shape and an unparseable caption cost what they should")
    func scoreReportsContent() throws {
        let scratch = try ScratchFolder()
        let folder = try synth(scratch)
        let dataset = SyntheticDataset(count: 12, seed: 6)
        var entries = (0..<12).map { ["image_id": dataset.item($0).fileName, "caption": dataset.item($0).captions[$0 % 5]] }
        let predictions = folder + "/predictions.json"
        try JSONSerialization.data(withJSONObject: entries).write(to: URL(fileURLWithPath: predictions))
        let perfect = try ToolRunner.run(["score", predictions, folder, "--split", "all"])
        #expect(perfect.status == 0, "\(perfect.standardError)")
        let content = try #require(try json(perfect.standardOutput)["content"] as? [String: Any])
        #expect(content["captions"] as? Int == 12 && content["unparsed"] as? Int == 0)
        for key in ["exact_match", "object_count", "shape_precision", "shape_recall", "color_precision", "color_recall"] {
            #expect(content[key] as? Double == 1, "\(key): \(content[key] ?? "absent")")
        }
        #expect(perfect.standardError.contains("content: every object right in 100.0% of 12 captions"), "\(perfect.standardError)")

        // Image 0 (one object or more) gets a wrong shape, image 1 a caption outside the grammar.
        let first = dataset.item(0).groundTruth.objects[0]
        let wrongShape = ShapeKind.allCases.first { $0 != first.shape }!
        let others = dataset.item(0).groundTruth.objects.dropFirst().map { "a \($0.color.name) \($0.shape.rawValue)" }
        entries[0]["caption"] = (["a \(first.color.name) \(wrongShape.rawValue)"] + others).joined(separator: " and ")
        entries[1]["caption"] = "a photo of a dog"
        try JSONSerialization.data(withJSONObject: entries).write(to: URL(fileURLWithPath: predictions))
        let perImage = folder + "/per-image.jsonl"
        let flawed = try ToolRunner.run(["score", predictions, folder, "--split", "all", "--per-image", perImage])
        #expect(flawed.status == 0, "\(flawed.standardError)")
        let scored = try #require(try json(flawed.standardOutput)["content"] as? [String: Any])
        #expect(scored["captions"] as? Int == 12 && scored["unparsed"] as? Int == 1)
        #expect(scored["exact_match"] as? Double == 10.0 / 12)
        #expect((scored["shape_precision"] as? Double ?? 1) < 1 && scored["color_precision"] as? Double == 1)
        let lines = try String(contentsOfFile: perImage, encoding: .utf8).split(separator: "\n").map { try json(String($0)) }
        let dog = try #require(lines.first { $0["image_id"] as? String == dataset.item(1).fileName }?["content"] as? [String: Any])
        #expect(dog["exact"] as? Bool == false && dog["mistakes"] as? [String] == ["unparseable"])
        #expect((dog["parse_error"] as? String)?.contains("photo") == true)
    }

    @Test("glimpse evaluate reports content scores for a synth dataset, and none for a dataset without ground truth")
    func evaluateReportsContent() throws {
        let scratch = try ScratchFolder()
        let folder = try synth(scratch, count: 6)
        let model = scratch.path + "/model.safetensors"
        try TinyModel.write(to: model)
        let outcome = try ToolRunner.run(["evaluate", "--model", model, folder, "--split", "all", "--beam", "1", "--json"])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        let summary = try json(outcome.standardOutput)
        let content = try #require(summary["content"] as? [String: Any])
        #expect(content["captions"] as? Int == 6 && summary["images"] as? Int == 6)
        #expect(outcome.standardError.contains("content: every object right in"))

        try FileManager.default.removeItem(atPath: folder + "/ground_truth.jsonl")
        let plain = try ToolRunner.run(["evaluate", "--model", model, folder, "--split", "all", "--beam", "1", "--json"])
        #expect(plain.status == 0, "\(plain.standardError)")
        #expect(try json(plain.standardOutput)["content"] == nil)
        #expect(!plain.standardError.contains("content"))
    }

    @Test("a malformed ground-truth file is an error naming the file and line")
    func malformedGroundTruth() throws {
        let scratch = try ScratchFolder()
        let folder = try synth(scratch, count: 3)
        let path = folder + "/ground_truth.jsonl"
        var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        lines[1] = lines[1].replacingOccurrences(of: "\"shape\":\"", with: "\"shape\":\"hexagon-")
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let model = scratch.path + "/model.safetensors"
        try TinyModel.write(to: model)
        let outcome = try ToolRunner.run(["evaluate", "--model", model, folder, "--split", "all"])
        #expect(outcome.status == 1)
        #expect(outcome.standardError.contains(path + ":2: malformed ground truth: objects[0].shape must be one of"),
                "\(outcome.standardError)")
    }

    @Test("glimpse train: validation lines show the content scores; --select-by content needs ground truth")
    func train() throws {
        let scratch = try ScratchFolder()
        let folder = try synth(scratch, count: 24, seed: 4)
        let outcome = try ToolRunner.run(["train", folder, "--out", scratch.path + "/run", "--epochs", "1", "--select-by", "content"]
                                         + TrainCommandTests.tinyModel)
        #expect(outcome.status == 0, "\(outcome.standardError)")
        #expect(outcome.standardError.contains("epoch 1: validation BLEU-4"))
        #expect(outcome.standardError.contains("every object right in"), "\(outcome.standardError)")

        try FileManager.default.removeItem(atPath: folder + "/ground_truth.jsonl")
        let refused = try ToolRunner.run(["train", folder, "--out", scratch.path + "/run2", "--epochs", "1", "--select-by", "content"]
                                         + TrainCommandTests.tinyModel)
        #expect(refused.status == 1)
        #expect(refused.standardError.contains("selecting by content needs ground truth"), "\(refused.standardError)")
        let bad = try ToolRunner.run(["train", folder, "--out", scratch.path + "/run3", "--select-by", "bleu"])
        #expect(bad.status != 0 && bad.standardError.contains("--select-by"), "\(bad.standardError)")
    }
}
