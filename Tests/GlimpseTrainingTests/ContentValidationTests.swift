import Foundation
import GlimpseData
import GlimpseSynth
import Testing
@testable import GlimpseTraining

@Suite("Content scores in validation")
struct ContentValidationTests {
    @Test("with ground truth, every validation reports the content scores of all its captions")
    func reportsContent() throws {
        let scratch = try Scratch()
        let dataset = try syntheticDataset(in: scratch)
        let run = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/run", options: tinyOptions(epochs: 2))
        _ = try run.run()
        let validations = try logRecords(run.layout.log).filter { $0.kind == .validation }
        #expect(validations.count == 2)
        for record in validations {
            let content = try #require(record.content)
            #expect(content.captions == record.validationImages && content.captions > 0)
            #expect((0...1).contains(content.exactMatch) && (0...1).contains(content.objectCount))
            #expect(content.unparsed <= content.captions)
        }
        // The line in log.jsonl carries them under "content".
        let line = try #require(try String(contentsOfFile: run.layout.log, encoding: .utf8)
            .split(separator: "\n").first { $0.contains("\"kind\":\"validation\"") })
        #expect(line.contains("\"content\":{") && line.contains("\"exact_match\":"))
    }

    @Test("without ground truth, validation records are as before and selecting by content is refused")
    func withoutGroundTruth() throws {
        let scratch = try Scratch()
        let dataset = try syntheticDataset(in: scratch)
        try FileManager.default.removeItem(atPath: scratch.path + "/data/" + GroundTruthFile.fileName)
        let run = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/run", options: tinyOptions(epochs: 1))
        _ = try run.run()
        let line = try #require(try String(contentsOfFile: run.layout.log, encoding: .utf8)
            .split(separator: "\n").first { $0.contains("\"kind\":\"validation\"") })
        #expect(!line.contains("content"), "\(line)")
        #expect(!(try String(contentsOfFile: run.layout.configuration, encoding: .utf8)).contains("selectBy"))

        var options = tinyOptions(epochs: 1)
        options.selectBy = .content
        let refused = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/content", options: options)
        do {
            _ = try refused.run()
            Issue.record("selected by content without ground truth")
        } catch {
            #expect(error.description.contains("selecting by content needs ground truth"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: refused.layout.last))
    }

    @Test("a malformed ground-truth file stops the run, naming the file and line")
    func malformedGroundTruth() throws {
        let scratch = try Scratch()
        let dataset = try syntheticDataset(in: scratch, count: 12)
        let path = scratch.path + "/data/" + GroundTruthFile.fileName
        try Data("{\"image\": \"synth-000001.jpg\"}\n".utf8).write(to: URL(fileURLWithPath: path))
        let run = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/run", options: tinyOptions(epochs: 1))
        do {
            _ = try run.run()
            Issue.record("trained with a malformed ground truth")
        } catch {
            #expect(error.description.hasPrefix(path + ":1: malformed ground truth"), "\(error)")
        }
    }

    @Test("--select-by content: best follows the exact-match share, CIDEr-D breaking ties")
    func selectionFollowsContent() throws {
        let scratch = try Scratch()
        let dataset = try syntheticDataset(in: scratch)
        var options = tinyOptions(epochs: 4)
        options.selectBy = .content
        let run = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/run", options: options)
        _ = try run.run()
        var best: (Double, Double)?
        for record in try logRecords(run.layout.log).filter({ $0.kind == .validation }) {
            let exact = try #require(record.content?.exactMatch), cider = try #require(record.ciderD)
            let expected = best.map { exact > $0.0 + 1e-9 || (abs(exact - $0.0) <= 1e-9 && cider > $0.1 + 1e-9) } ?? true
            #expect(record.best == expected, "epoch \(record.epoch): exact \(exact), CIDEr-D \(cider), best so far \(String(describing: best))")
            if expected { best = (exact, cider) }
        }
        let progress = try JSONDecoder().decode(RunProgress.self, from: Data(contentsOf: URL(fileURLWithPath: run.layout.progress)))
        #expect(progress.bestScore == best?.0 && progress.bestTiebreak == best?.1)
        let configuration = try String(contentsOfFile: run.layout.configuration, encoding: .utf8)
        #expect(configuration.contains("\"selectBy\" : \"content\""), "\(configuration)")
    }

    @Test("a better score improves; an equal one only through a better tiebreak", arguments: [
        (0.5, 1.0, nil, nil, true),
        (0.6, 0.1, 0.5, 2.0, true),
        (0.5, 2.1, 0.5, 2.0, true),
        (0.5, 2.0, 0.5, 2.0, false),
        (0.5, 1.9, 0.5, 2.0, false),
        (0.4, 9.0, 0.5, 2.0, false),
    ] as [(Double, Double, Double?, Double?, Bool)])
    func improvement(score: Double, tiebreak: Double, best: Double?, bestTiebreak: Double?, expected: Bool) {
        #expect(TrainingRun.improves(score, tiebreak: tiebreak, on: best, tiebreak: bestTiebreak) == expected)
        // Selecting by CIDEr-D has no tiebreak: equal is never better.
        if best != nil { #expect(TrainingRun.improves(score, tiebreak: nil, on: best, tiebreak: nil) == (score > best! + 1e-9)) }
    }
}

@Suite("Run folders from before the content scores")
struct OlderRunFolderTests {
    @Test("the default selection is left out of config.json and progress.json, so older files read the same")
    func defaultsAreAbsent() throws {
        let options = String(decoding: JSONFile.encode(TrainingOptions()), as: UTF8.self)
        #expect(!options.contains("selectBy"))
        let decoded = try JSONDecoder().decode(TrainingOptions.self, from: Data(options.utf8))
        #expect(decoded == TrainingOptions() && decoded.selectionMetric == .ciderD)

        var progress = RunProgress()
        progress.bestScore = 2.5
        let progressText = String(decoding: JSONFile.encode(progress), as: UTF8.self)
        #expect(!progressText.contains("bestTiebreak"))
        #expect(try JSONDecoder().decode(RunProgress.self, from: Data(progressText.utf8)) == progress)
    }
}
