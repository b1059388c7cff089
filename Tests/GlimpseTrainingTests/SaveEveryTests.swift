import Foundation
import GlimpseModel
import Testing
@testable import GlimpseTraining

@Suite("Saving every N steps")
struct SaveEveryTests {
    @Test("a run saving every 2 steps, killed after a mid-epoch save, resumes to the uninterrupted run's files, bit for bit")
    func killedAfterMidEpochSave() throws {
        let scratch = try Scratch()
        // 18 training images in batches of 4: 5 steps an epoch (a small dataset: drawing it is most of the test's time).
        let dataset = try syntheticDataset(in: scratch, count: 20)
        var options = tinyOptions(epochs: 2)
        options.imagesPerBatch = 4
        // The generator's state must carry over, and so must the epoch's loss so far: without a
        // validation split, the epoch's mean training loss picks `best`.
        options.samplingProbability = 0.25
        options.validationImages = 0
        var saving = options
        saving.saveEvery = 2
        // The straight run: it saves on the way, which changes nothing (KillResumeTests compares
        // with a run that does not).
        var straight = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/straight", options: saving)
        let killed = scratch.path + "/killed"
        // Step 3's update is done, its record not yet written, and `last` is step 2's set: the
        // folder as a kill -9 would leave it.
        straight.hooks.afterStep = { [layout = straight.layout] _, step in
            guard step == 3 else { return }
            let copy = Process()
            copy.executableURL = URL(fileURLWithPath: "/bin/cp")
            copy.arguments = ["-a", layout.directory, killed]
            try? copy.run()
            copy.waitUntilExit()
        }
        #expect(try straight.run() == .completed(epochs: 2))

        let set = try TrainingState(contentsOf: killed + "/last/state.safetensors",
                                    for: Checkpoint(contentsOf: killed + "/last.safetensors").model)
        #expect(set.optimizer.stepCount == 2 && set.dataPosition.epoch == 0 && set.dataPosition.batchIndex == 2)
        let resumed = TrainingRun(dataset: dataset, runDirectory: killed, options: saving, resume: true)
        #expect(try resumed.run() == .completed(epochs: 2))
        let files: [(String, KeyPath<RunLayout, String>)] = [("last.safetensors", \.last), ("last/state.safetensors", \.lastState),
                                                             ("last/progress.json", \.progress), ("best.safetensors", \.best)]
        for (name, path) in files {
            #expect(bytes(resumed.layout[keyPath: path]) == bytes(straight.layout[keyPath: path]), "\(name) differs")
        }
        let straightRecords = try logRecords(straight.layout.log).filter { $0.kind != .stop }
        let resumedRecords = try logRecords(resumed.layout.log).filter { $0.kind != .stop }
        #expect(resumedRecords.map(\.step) == straightRecords.map(\.step))
        #expect(resumedRecords.map(\.loss) == straightRecords.map(\.loss), "the step losses or the epochs' mean losses differ")
    }
}
