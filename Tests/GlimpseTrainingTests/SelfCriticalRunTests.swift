import Foundation
import GlimpseData
import GlimpseModel
import Testing
@testable import GlimpseTraining

@Suite("Self-critical fine-tuning run (--init MODEL --scst)")
struct SelfCriticalRunTests {
    /// A cross-entropy run of the tiny model to start from, with the word-detection head.
    static func pretrained(_ scratch: Scratch, dataset: Dataset) throws -> String {
        var options = tinyOptions(epochs: 3)
        options.wordLossWeight = 1
        let run = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/xe", options: options)
        _ = try run.run()
        return run.layout.last
    }

    static func selfCriticalOptions(from model: String, epochs: Int = 2) -> TrainingOptions {
        var options = tinyOptions(epochs: epochs)
        options.initialModel = model
        options.selfCritical = true
        options.selfCriticalSamples = 3
        options.learningRate = 1e-3
        options.imageSize = 32 // ignored: the model's own input size (16) is used
        return options
    }

    @Test("starts from the model's weights and vocabulary, logs rewards, leaves the encoder as it was")
    func fineTunes() throws {
        let scratch = try Scratch()
        let dataset = try syntheticDataset(in: scratch)
        let start = try Self.pretrained(scratch, dataset: dataset)
        let run = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/scst", options: Self.selfCriticalOptions(from: start))
        #expect(try run.run() == .completed(epochs: 2))
        let before = try Checkpoint(contentsOf: start), after = try Checkpoint(contentsOf: run.layout.last)
        #expect(after.vocabulary == before.vocabulary)
        #expect(after.model.configuration == before.model.configuration)
        #expect(after.model.encoder.stages.map(\.conv1.weight) == before.model.encoder.stages.map(\.conv1.weight))
        #expect(after.model.decoder.output.weight != before.model.decoder.output.weight, "the decoder was trained")
        let steps = try logRecords(run.layout.log).filter { $0.kind == .step }
        #expect(!steps.isEmpty && steps.allSatisfy { $0.reward.map { $0 >= 0 && $0.isFinite } ?? false })
        #expect(steps.allSatisfy { $0.crossEntropy == nil })
    }

    @Test("stopped and resumed, it ends bit-identical to an uninterrupted run")
    func resumeIsExact() throws {
        let scratch = try Scratch()
        let dataset = try syntheticDataset(in: scratch)
        let start = try Self.pretrained(scratch, dataset: dataset)
        let options = Self.selfCriticalOptions(from: start)
        let straight = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/straight", options: options)
        #expect(try straight.run() == .completed(epochs: 2))
        var limited = options
        limited.maximumSteps = 3
        let first = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/resumed", options: limited)
        #expect(try first.run() == .stepLimitReached(step: 3))
        var resumeOptions = options
        resumeOptions.initialModel = nil // the run folder's own options and weights are used
        let second = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/resumed", options: resumeOptions, resume: true)
        #expect(try second.run() == .completed(epochs: 2))
        #expect(bytes(second.layout.last) == bytes(straight.layout.last), "last.safetensors differs")
        #expect(bytes(second.layout.lastState) == bytes(straight.layout.lastState), "last.state.safetensors differs")
    }

    @Test("a missing starting model is a checkpoint error naming the file")
    func missingModel() throws {
        let scratch = try Scratch()
        let dataset = try syntheticDataset(in: scratch)
        let run = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/scst",
                              options: Self.selfCriticalOptions(from: scratch.path + "/nothing.safetensors"))
        #expect {
            _ = try run.run()
        } throws: { error in
            "\(error)".contains("nothing.safetensors")
        }
    }
}
