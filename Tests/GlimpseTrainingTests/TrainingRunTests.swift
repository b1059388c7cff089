import Foundation
import GlimpseData
import GlimpseModel
import GlimpseSafeTensors
import GlimpseSynth
import GlimpseTensor
import Testing
@testable import GlimpseTraining
import GlimpseText

/// A scratch folder removed when the test ends.
final class Scratch {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("glimpse-train-" + UUID().uuidString).path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A tiny model and dataset: a run of a few epochs takes about a second.
func tinyOptions(epochs: Int = 3) -> TrainingOptions {
    var options = TrainingOptions()
    options.epochs = epochs
    options.imageSize = 16
    options.stageChannels = [4, 8]
    options.embeddingSize = 8
    options.attentionSize = 8
    options.hiddenSize = 16
    options.imagesPerBatch = 8
    options.learningRate = 1e-2
    options.threads = 1
    return options
}

func syntheticDataset(in scratch: Scratch, count: Int = 40) throws -> Dataset {
    let folder = scratch.path + "/data"
    try SyntheticDataset(count: count, seed: 5).write(to: folder)
    return try DatasetLoader().load(folder)
}

func logRecords(_ path: String) throws -> [LogRecord] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    let decoder = JSONDecoder()
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return try text.split(separator: "\n").map { try decoder.decode(LogRecord.self, from: Data($0.utf8)) }
}

func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

/// The mean training cross-entropy of the steps of `epoch` (counted from 1) in a run's log.
func meanCrossEntropy(_ log: String, epoch: Int) throws -> Float {
    let values = try logRecords(log).filter { $0.kind == .step && $0.epoch == epoch }.compactMap(\.crossEntropy)
    return values.reduce(0, +) / Float(values.count)
}

@Suite("Training run")
struct TrainingRunTests {
    @Test("a few epochs lower the loss and write best, last, state, log, vocabulary and configuration")
    func trainsAndWritesTheRunFolder() throws {
        let scratch = try Scratch()
        let dataset = try syntheticDataset(in: scratch)
        let run = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/run", options: tinyOptions(epochs: 5))
        let outcome = try run.run()
        #expect(outcome == .completed(epochs: 5))
        for path in [run.layout.best, run.layout.last, run.layout.lastState, run.layout.vocabulary,
                     run.layout.configuration, run.layout.progress, run.layout.log] {
            #expect(FileManager.default.fileExists(atPath: path), "missing \(path)")
        }
        let records = try logRecords(run.layout.log)
        let steps = records.filter { $0.kind == .step }
        let validations = records.filter { $0.kind == .validation }
        #expect(validations.count == 5)
        #expect(validations.allSatisfy { $0.ciderD != nil && $0.bleu4 != nil })
        // Cross-entropy: the attention penalty of so short a run is noisy.
        let firstEpoch = steps.filter { $0.epoch == 1 }.compactMap(\.crossEntropy)
        let lastEpoch = steps.filter { $0.epoch == 5 }.compactMap(\.crossEntropy)
        let mean = { (values: [Float]) in values.reduce(0, +) / Float(values.count) }
        #expect(mean(lastEpoch) < 0.93 * mean(firstEpoch), "cross-entropy \(mean(firstEpoch)) → \(mean(lastEpoch))")
        #expect(steps.allSatisfy { $0.gradientNorm != nil && $0.learningRate != nil && $0.imagesPerSecond != nil })

        let checkpoint = try Checkpoint(contentsOf: run.layout.best)
        let vocabulary = try Vocabulary(fileContents: String(contentsOfFile: run.layout.vocabulary, encoding: .utf8))
        #expect(checkpoint.vocabulary == vocabulary)
        let configuration = try JSONDecoder().decode(RunConfiguration.self,
                                                     from: Data(contentsOf: URL(fileURLWithPath: run.layout.configuration)))
        #expect(configuration.model == checkpoint.model.configuration)
        #expect(configuration.trainingImages > 0 && configuration.minimumWordCount == 5)
        // best carries the summary `caption` flags unfamiliar images by: with so few validation
        // images, measured on four fifths of the training images and calibrated on the rest.
        let summary = try #require(checkpoint.featureSummary)
        #expect(summary.featureSize == checkpoint.model.configuration.featureSize)
        #expect(summary.calibration.imageCount + summary.calibration.heldOutImageCount == configuration.trainingImages
                && summary.calibration.heldOutImageCount == configuration.trainingImages / 5, "\(summary.calibration)")
        #expect(summary.calibration.threshold > 0 && summary.calibration.threshold.isFinite)
    }

    @Test("stopping after N steps and resuming gives bit-identical weights and state to an uninterrupted run")
    func resumeIsExact() throws {
        let scratch = try Scratch()
        let dataset = try syntheticDataset(in: scratch)
        let options = tinyOptions(epochs: 2)
        var options2 = options
        options2.samplingProbability = 0.25 // the generator's state must carry over too
        let straight = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/straight", options: options2)
        #expect(try straight.run() == .completed(epochs: 2))

        var limited = options2
        limited.maximumSteps = 3 // mid-epoch: 36 training images make 5 batches of 8
        let first = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/resumed", options: limited)
        #expect(try first.run() == .stepLimitReached(step: 3))
        let state = try TrainingState(contentsOf: first.layout.lastState,
                                      for: Checkpoint(contentsOf: first.layout.last).model)
        #expect(state.dataPosition.epoch == 0 && state.dataPosition.batchIndex == 3)

        let second = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/resumed", options: options2, resume: true)
        #expect(try second.run() == .completed(epochs: 2))
        #expect(bytes(second.layout.last) == bytes(straight.layout.last), "last.safetensors differs")
        #expect(bytes(second.layout.lastState) == bytes(straight.layout.lastState), "last.state.safetensors differs")
        #expect(bytes(second.layout.best) == bytes(straight.layout.best), "best.safetensors differs")
        let straightSteps = try logRecords(straight.layout.log).filter { $0.kind == .step }.map(\.loss)
        let resumedSteps = try logRecords(second.layout.log).filter { $0.kind == .step }.map(\.loss)
        #expect(straightSteps == resumedSteps)
    }

    @Test("the linear schedule warms up, then falls to zero at the end of the last epoch; a resumed run follows the same rates")
    func linearSchedule() throws {
        let scratch = try Scratch()
        let dataset = try syntheticDataset(in: scratch)
        var options = tinyOptions(epochs: 2)
        options.learningRateSchedule = .linear
        options.warmupSteps = 3
        let run = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/run", options: options)
        #expect(try run.run() == .completed(epochs: 2))
        let rates = try logRecords(run.layout.log).filter { $0.kind == .step }.compactMap(\.learningRate)
        // 36 training images in batches of 8: 5 steps an epoch, 10 in the run. Step s (from 0)
        // runs at 1e-2 · min(1, (s + 1) / 3) · (1 − s / 10).
        #expect(rates.count == 10)
        for (step, rate) in rates.enumerated() {
            let warmup: Double = min(1, Double(step + 1) / 3)
            let remaining: Double = 1 - Double(step) / 10
            let want: Double = 1e-2 * warmup * remaining
            #expect(abs(rate - want) < 1e-12, "step \(step): \(rate), expected \(want)")
        }

        var limited = options
        limited.maximumSteps = 3
        let first = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/resumed", options: limited)
        #expect(try first.run() == .stepLimitReached(step: 3))
        let second = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/resumed", options: options, resume: true)
        #expect(try second.run() == .completed(epochs: 2))
        #expect(bytes(second.layout.last) == bytes(run.layout.last), "the resumed run's weights differ")
    }

    @Test("a time budget that ends inside an epoch validates the steps done, and keeps them as best when better")
    func budgetEndValidates() throws {
        let scratch = try Scratch()
        let dataset = try syntheticDataset(in: scratch)
        var options = tinyOptions(epochs: 3)
        options.epochs = nil
        options.minutes = 1.0 / 60
        var run = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/run", options: options)
        // Two steps, then past the one-second budget: the run stops before step 3, inside epoch 1.
        run.hooks.afterStep = { _, step in if step == 2 { usleep(1_100_000) } }
        #expect(try run.run() == .timeBudgetReached(step: 2))
        let records = try logRecords(run.layout.log)
        #expect(records.map(\.kind) == [.step, .step, .validation, .stop])
        let validation = records[2]
        #expect(validation.epoch == 1 && validation.step == 2 && validation.ciderD != nil)
        // The first validation of a run is the best so far.
        #expect(validation.best == true)
        #expect(FileManager.default.fileExists(atPath: run.layout.best))
    }

    @Test("a vocabulary is capped at its limit, the least frequent words left out and counted")
    func vocabularyCap() throws {
        let scratch = try Scratch()
        let folder = scratch.path + "/data"
        try SyntheticDataset(count: 12, seed: 5).write(to: folder)
        // One caption of 60 000 distinct words, for the first image.
        let captions = try String(contentsOfFile: folder + "/captions.txt", encoding: .utf8)
        let firstImage = captions.split(separator: "\n")[1].split(separator: ",")[0]
        let flood = (0..<60_000).map { "w\($0)" }.joined(separator: " ")
        try (captions + "\(firstImage),\(flood)\n").write(toFile: folder + "/captions.txt", atomically: true, encoding: .utf8)
        let dataset = try DatasetLoader().load(folder)
        var options = tinyOptions(epochs: 1)
        options.maximumSteps = 1
        let run = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/run", options: options)
        final class Box: @unchecked Sendable { var decision: VocabularyDecision? }
        let box = Box()
        _ = try run.run(events: { event in
            if case .vocabularyDecided(let decision) = event { box.decision = decision }
        })
        let vocabulary = try Checkpoint(contentsOf: run.layout.last).vocabulary
        #expect(vocabulary.count == TrainingOptions.Limits.vocabularySize)
        let decision = try #require(box.decision)
        #expect(decision.vocabulary == vocabulary)
        #expect(decision.cappedWords > 10_000, "\(decision.cappedWords)")
    }

    @Test("an image cache that would not fit on its disk is refused before a byte is written")
    func cacheTooLarge() throws {
        let scratch = try Scratch()
        let dataset = try syntheticDataset(in: scratch)
        var run = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/run", options: tinyOptions())
        run.hooks.freeBytes = { _ in 10_000 } // the 38 training and validation images of 3 × 16 × 16 bytes need 29 184
        #expect {
            _ = try run.run()
        } throws: { error in
            guard case .cacheTooLarge(let directory, let needed, let available) = error as? TrainingError else { return false }
            return directory == scratch.path + "/run/cache" && needed == 38 * 768 && available == 10_000
        }
        let cacheFiles = (try? FileManager.default.contentsOfDirectory(atPath: scratch.path + "/run/cache")) ?? []
        #expect(!cacheFiles.contains { $0.hasSuffix(".bin") && (FileManager.default.contents(atPath: scratch.path + "/run/cache/" + $0)?.count ?? 0) > 0 },
                "\(cacheFiles)")
    }

    @Test("a NaN loss stops the run naming the step, and last keeps the last good weights")
    func nonFiniteLossKeepsTheLastGoodCheckpoint() throws {
        let scratch = try Scratch()
        let dataset = try syntheticDataset(in: scratch)
        var run = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/run", options: tinyOptions(epochs: 3))
        let layout = run.layout
        final class Box: @unchecked Sendable { var saved: Data? }
        let box = Box()
        // 5 steps per epoch: step 7 is in epoch 2, after epoch 1's checkpoint.
        run.hooks.afterStep = { trainer, step in
            guard step == 7 else { return }
            box.saved = bytes(layout.last)
            let shape = trainer.model.decoder.output.weight.shape
            trainer.model.decoder.output.weight = Tensor(shape: shape, repeating: .nan)
        }
        let outcome = try run.run()
        guard case .nonFiniteLoss(let step, let epoch, _, _) = outcome else {
            Issue.record("expected a non-finite loss, got \(outcome)")
            return
        }
        #expect(step == 8 && epoch == 2)
        #expect(box.saved != nil && bytes(layout.last) == box.saved)
        let model = try Checkpoint(contentsOf: layout.last).model
        #expect(model.decoder.output.weight.scalars.allSatisfy { $0.isFinite })
        let records = try logRecords(layout.log)
        #expect(records.last?.kind == .stop)
        #expect(records.last?.reason?.hasPrefix("non-finite loss nan") == true, "\(records.last?.reason ?? "")")
    }

    @Test("no usable training image stops the run with the inspection report")
    func inspectionStop() throws {
        let scratch = try Scratch()
        let folder = scratch.path + "/data"
        try SyntheticDataset(count: 6, seed: 2).write(to: folder)
        for name in try FileManager.default.contentsOfDirectory(atPath: folder + "/Images") {
            try Data("not an image".utf8).write(to: URL(fileURLWithPath: folder + "/Images/" + name))
        }
        let dataset = try DatasetLoader().load(folder)
        let run = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/run", options: tinyOptions())
        do {
            _ = try run.run()
            Issue.record("training started without a usable image")
        } catch {
            guard case .noUsableTrainingImages(_, let report) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(report.contains { $0.hasPrefix("image files missing or unreadable: 6") })
        }
        #expect(!FileManager.default.fileExists(atPath: run.layout.last))
    }

    @Test("a run folder holding a run is not overwritten without resume")
    func refusesToOverwrite() throws {
        let scratch = try Scratch()
        let dataset = try syntheticDataset(in: scratch, count: 12)
        let run = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/run", options: tinyOptions(epochs: 1))
        _ = try run.run()
        #expect(throws: TrainingError.self) { _ = try run.run() }
    }

    @Test("the minimum word count is lowered only while too many words would be unknown")
    func adaptiveMinimumCount() throws {
        var options = TrainingOptions()
        func minimum(_ captions: [String]) -> Int {
            options.vocabularyRule.decide(trainingCaptions: captions.map(CaptionTokenizer.tokenize)).minimumCount
        }
        let common = Array(repeating: "a dog runs", count: 10)
        #expect(minimum(common + ["rare"]) == 5)
        #expect(minimum(["one two", "two three"]) == 1)
        options.setMinimumWordCount(5)
        #expect(minimum(["one two", "two three"]) == 5)
    }
}
