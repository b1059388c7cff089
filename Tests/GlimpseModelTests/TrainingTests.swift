import Foundation
import GlimpseData
import GlimpseImage
import GlimpseLayers
import GlimpseModel
import GlimpseSafeTensors
import GlimpseTensor
import Testing

@Suite("Training step and resumption")
struct TrainingTests {
    static let configuration = ModelFixtures.tinyConfiguration(dropout: 0.3, lambda: 0.5)

    static func batches() -> [CaptionBatch] {
        [ModelFixtures.batch(configuration, imageCount: 3, lengths: [4, 2, 5, 3, 1], seed: 80),
         ModelFixtures.batch(configuration, imageCount: 2, lengths: [3, 6], seed: 81)]
    }

    static func trainer(seed: UInt64) -> Trainer {
        Trainer(model: ModelFixtures.model(configuration, seed: seed), optimizer: Adam(learningRate: 1e-2),
                maxGradientNorm: 1, scheduledSampling: .linear(start: 0, end: 0.5, steps: 4))
    }

    @Test("steps lower the loss on a fixed batch; the parts add up; BN statistics move")
    func learns() {
        var trainer = Self.trainer(seed: 82)
        let batch = Self.batches()[0]
        var generator = SeededGenerator(seed: 83)
        trainer.scheduledSampling = .off
        let before = trainer.model
        var losses: [Float] = []
        for _ in 0..<15 {
            let result = trainer.step(batch, using: &generator)
            #expect(abs(result.loss - (result.crossEntropy + 0.5 * result.attentionPenalty)) <= 1e-5 * result.loss)
            #expect(result.gradientNorm > 0 && result.samplingProbability == 0)
            losses.append(result.loss)
        }
        #expect(trainer.stepCount == 15)
        #expect(losses.last! < losses.first!, "losses \(losses)")
        #expect(trainer.model.encoder.stages[0].bn1.runningMean != before.encoder.stages[0].bn1.runningMean)
    }

    @Test("save, load and continue gives bit-identical parameters to an uninterrupted run")
    func resumesExactly() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let batches = Self.batches()
        let vocabulary = ModelFixtures.vocabulary(size: Self.configuration.vocabularySize)
        let preprocessing = Preprocessing(imageSize: Self.configuration.imageSize)

        // Uninterrupted: 6 steps.
        var uninterrupted = Self.trainer(seed: 84)
        var generator = SeededGenerator(seed: 85)
        var uninterruptedResults: [TrainingStepResult] = []
        for step in 0..<6 { uninterruptedResults.append(uninterrupted.step(batches[step % 2], using: &generator)) }

        // Interrupted after 3 steps: write checkpoint and state, start again from the files.
        var first = Self.trainer(seed: 84)
        var firstGenerator = SeededGenerator(seed: 85)
        for step in 0..<3 { _ = first.step(batches[step % 2], using: &firstGenerator) }
        let checkpointPath = directory.appendingPathComponent("run.safetensors").path
        let statePath = TrainingState.path(besideCheckpoint: checkpointPath)
        #expect(statePath.hasSuffix("run.state.safetensors"))
        try Checkpoint(model: first.model, vocabulary: vocabulary, preprocessing: preprocessing).write(to: checkpointPath)
        try first.trainingState(generator: firstGenerator, dataPosition: DataPosition(epoch: 1, batchIndex: 3, shuffleSeed: 0xFFFF_FFFF_FFFF_FFF1))
            .write(to: statePath)

        let checkpoint = try Checkpoint(contentsOf: checkpointPath)
        let state = try TrainingState(contentsOf: statePath, for: checkpoint.model)
        #expect(state.dataPosition == DataPosition(epoch: 1, batchIndex: 3, shuffleSeed: 0xFFFF_FFFF_FFFF_FFF1))
        #expect(state.generator == firstGenerator)
        #expect(state.optimizer.stepCount == 3 && state.optimizer.learningRate == 1e-2)
        var resumed = Trainer(model: checkpoint.model, optimizer: state.optimizer, maxGradientNorm: 1,
                              scheduledSampling: .linear(start: 0, end: 0.5, steps: 4))
        var resumedGenerator = state.generator
        for step in state.dataPosition.batchIndex..<6 {
            let result = resumed.step(batches[step % 2], using: &resumedGenerator)
            #expect(result == uninterruptedResults[step], "step \(step)")
        }
        for (name, path) in uninterrupted.model.namedTensorPaths {
            #expect(resumed.model[keyPath: path] == uninterrupted.model[keyPath: path], "\(name) differs after resuming")
        }
        for path in uninterrupted.model.parameterPaths {
            #expect(resumed.optimizer.firstMoments[path.name] == uninterrupted.optimizer.firstMoments[path.name])
            #expect(resumed.optimizer.secondMoments[path.name] == uninterrupted.optimizer.secondMoments[path.name])
        }
        #expect(resumedGenerator == generator)
    }

    @Test("a state file that does not fit the model is refused by name")
    func stateMismatch() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var trainer = Self.trainer(seed: 86)
        var generator = SeededGenerator(seed: 87)
        _ = trainer.step(Self.batches()[1], using: &generator)
        let path = directory.appendingPathComponent("run.state.safetensors").path
        try trainer.trainingState(generator: generator, dataPosition: DataPosition(epoch: 0, batchIndex: 1, shuffleSeed: 5))
            .write(to: path)
        let larger = try ModelConfiguration(vocabularySize: 9, imageSize: 8, stageChannels: [2, 3], embeddingSize: 3,
                                            attentionSize: 3, hiddenSize: 5)
        var otherGenerator = SeededGenerator(seed: 1)
        let other = CaptioningModel(configuration: larger, using: &otherGenerator)
        #expect {
            _ = try TrainingState(contentsOf: path, for: other)
        } throws: { error in
            (error as? CheckpointError)?.reason
                == .wrongShape(tensor: "adam.exp_avg.decoder.attention.decoder_att.weight", expected: [3, 5], found: [3, 4])
        }
        // A model checkpoint is not a state file.
        let checkpointPath = directory.appendingPathComponent("run.safetensors").path
        try Checkpoint(model: trainer.model, vocabulary: ModelFixtures.vocabulary(size: 9),
                       preprocessing: Preprocessing(imageSize: 8)).write(to: checkpointPath)
        #expect {
            _ = try TrainingState(contentsOf: checkpointPath, for: trainer.model)
        } throws: { error in
            (error as? CheckpointError)?.reason == .unsupportedFormat(found: Checkpoint.format)
        }
    }
}
