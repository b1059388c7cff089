import Foundation
import GlimpseSynth
import Testing

/// The whole path a user takes, on a tiny synthetic set, in seconds: every stage's
/// output is well formed and training lowers the loss.
@Suite("End to end: synth, train, caption, evaluate, batch")
struct EndToEndTests {
    @Test("synth -> train -> caption -> evaluate -> batch")
    func wholePath() throws {
        let scratch = try ScratchFolder()
        let data = scratch.path + "/data", run = scratch.path + "/run"

        let synth = try ToolRunner.run(["synth", data, "--count", "40", "--seed", "21"])
        #expect(synth.status == 0, "\(synth.standardError)")
        let captions = try String(contentsOfFile: data + "/captions.txt", encoding: .utf8)
        #expect(captions.split(separator: "\n").count == 1 + 40 * 5)

        let train = try ToolRunner.run(["train", data, "--out", run, "--epochs", "4", "--image-size", "16",
                                        "--stage-channels", "4,8", "--embedding-size", "8", "--attention-size", "8",
                                        "--hidden-size", "16", "--batch-size", "6", "--threads", "1",
                                        "--learning-rate", "0.01"])
        #expect(train.status == 0, "\(train.standardError)")
        let log = try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let steps = log.filter { $0["kind"] as? String == "step" }.compactMap { $0["cross_entropy"] as? Double }
        #expect(steps.count >= 8)
        let early = steps.prefix(3).reduce(0, +) / 3, late = steps.suffix(3).reduce(0, +) / 3
        #expect(late < early * 0.9, "cross-entropy went from \(early) to \(late)")

        let model = run + "/best.safetensors"
        let image = data + "/Images/synth-000001.jpg"
        let caption = try ToolRunner.run(["caption", image, "--model", model, "--json"])
        #expect(caption.status == 0, "\(caption.standardError)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(caption.standardOutput.utf8)) as? [String: Any])
        // A model this small, trained for seconds, may well say nothing yet: the output
        // must be well formed, whatever the words.
        let words = try #require(object["tokens"] as? [String])
        #expect(object["caption"] as? String == words.joined(separator: " "))
        #expect(object["logprob"] is Double)
        #expect((object["attention"] as? [Any])?.count == words.count)

        let predictions = scratch.path + "/predictions.json"
        let evaluate = try ToolRunner.run(["evaluate", "--model", model, data, "--split", "all", "--beam", "2",
                                           "--output", predictions, "--json"])
        #expect(evaluate.status == 0, "\(evaluate.standardError)")
        let scores = try #require(try JSONSerialization.jsonObject(with: Data(evaluate.standardOutput.utf8)) as? [String: Any])
        #expect(scores["images"] as? Int == 40)
        for metric in ["Bleu_4", "CIDEr", "ROUGE_L"] { #expect(scores[metric] is Double, "\(metric) missing") }
        let score = try ToolRunner.run(["score", predictions, data, "--split", "all"])
        let rescored = try #require(try JSONSerialization.jsonObject(with: Data(score.standardOutput.utf8)) as? [String: Any])
        #expect(rescored["CIDEr"] as? Double == scores["CIDEr"] as? Double)

        let output = scratch.path + "/batch.jsonl"
        let batch = try ToolRunner.run(["batch", data, "--model", model, "--output", output])
        #expect(batch.status == 0, "\(batch.standardError)")
        let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 40)
        for line in lines {
            let record = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(record["path"] is String && record["caption"] is String && record["logprob"] is Double)
        }
        // Scoring batch's JSON Lines is a natural mistake: it is refused with the way to the COCO format.
        let misfed = try ToolRunner.run(["score", output, data, "--split", "all"])
        #expect(misfed.status == 1)
        #expect(misfed.standardError.contains("as `glimpse batch --format jsonl` writes them"), "\(misfed.standardError)")
        #expect(misfed.standardError.contains("--format coco"))
    }
}
