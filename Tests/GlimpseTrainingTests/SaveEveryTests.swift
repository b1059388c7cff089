import Foundation
import GlimpseModel
import Testing
@testable import GlimpseTraining

@Suite("Saving every N steps")
struct SaveEveryTests {
    @Test("a run saving every 2 steps, killed after a mid-epoch save, resumes to the straight run's files, bit for bit")
    func killedAfterMidEpochSave() throws {
        let scratch = try Scratch()
        let dataset = try syntheticDataset(in: scratch)
        var options = tinyOptions(epochs: 2)
        // The generator's state must carry over, and so must the epoch's loss so far: without a
        // validation split, the epoch's mean training loss picks `best`.
        options.samplingProbability = 0.25
        options.validationImages = 0
        let straight = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/straight", options: options)
        #expect(try straight.run() == .completed(epochs: 2))

        var saving = options
        saving.saveEvery = 2
        var run = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/saving", options: saving)
        let killed = scratch.path + "/killed"
        // Step 3's update is done, its record not yet written, and `last` is step 2's set (36
        // images in batches of 8: 5 steps an epoch): the folder as a kill -9 would leave it.
        run.hooks.afterStep = { [layout = run.layout] _, step in
            guard step == 3 else { return }
            let copy = Process()
            copy.executableURL = URL(fileURLWithPath: "/bin/cp")
            copy.arguments = ["-a", layout.directory, killed]
            try? copy.run()
            copy.waitUntilExit()
        }
        #expect(try run.run() == .completed(epochs: 2))
        // The saves on the way change nothing.
        #expect(bytes(run.layout.last) == bytes(straight.layout.last), "saving every 2 steps changed the weights")

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
