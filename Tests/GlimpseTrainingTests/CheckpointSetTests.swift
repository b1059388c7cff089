import Foundation
import GlimpseModel
import Testing
@testable import GlimpseTraining

/// `RUN_DIR/last` is one complete set of weights, optimizer state and progress; resuming
/// checks it and falls back to an older complete set when it is damaged.
@Suite("Checkpoint sets")
struct CheckpointSetTests {
    /// A run stopped after `steps` steps (a set at that step), and its events' messages.
    func stoppedRun(in scratch: Scratch, steps: Int) throws -> TrainingRun {
        var options = tinyOptions(epochs: 2)
        options.maximumSteps = steps
        let run = TrainingRun(dataset: try syntheticDataset(in: scratch), runDirectory: scratch.path + "/run", options: options)
        #expect(try run.run() == .stepLimitReached(step: steps))
        return run
    }

    func resumed(_ run: TrainingRun) throws -> (outcome: TrainingOutcome, skipped: [String], from: String?) {
        final class Seen: @unchecked Sendable { var skipped: [String] = []; var from: String? }
        let seen = Seen()
        let again = TrainingRun(dataset: run.dataset, runDirectory: run.layout.directory, options: tinyOptions(epochs: 2), resume: true)
        let outcome = try again.run(events: { event in
            if case .skippedCheckpointSet(let folder, let reason) = event { seen.skipped.append(folder + ": " + reason) }
            if case .resumed(_, _, let folder) = event { seen.from = folder }
        })
        return (outcome, seen.skipped, seen.from)
    }

    @Test("a save holds the model, state, progress and a manifest of their sizes; last.safetensors links to its model")
    func layout() throws {
        let scratch = try Scratch()
        let run = try stoppedRun(in: scratch, steps: 3)
        let folder = try FileManager.default.destinationOfSymbolicLink(atPath: run.layout.lastSet)
        #expect(folder.hasPrefix("checkpoints/step-00000003."))
        let manifest = try JSONDecoder().decode(CheckpointSet.Manifest.self,
                                                from: Data(contentsOf: URL(fileURLWithPath: run.layout.lastSet + "/set.json")))
        #expect(manifest.step == 3 && manifest.epoch == 0 && manifest.batchIndex == 3)
        for (name, size) in manifest.files {
            let attributes = try FileManager.default.attributesOfItem(atPath: run.layout.lastSet + "/" + name)
            #expect((attributes[.size] as? Int) == size, "\(name)")
        }
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: run.layout.last) == "last/model.safetensors")
        #expect(try Checkpoint(contentsOf: run.layout.last).model.configuration.hiddenSize == 16)
    }

    @Test("a set with a file cut short is passed over for the newest complete one, and removed", arguments: [
        ("model.safetensors", "model.safetensors has"), ("state.safetensors", "state.safetensors has"),
        ("set.json", "no readable set.json"),
    ])
    func damagedSetFallsBack(file: String, reason: String) throws {
        let scratch = try Scratch()
        let run = try stoppedRun(in: scratch, steps: 3)
        // A later "set" whose save was cut off, named by `last` as a half-done switch would leave it.
        let good = try FileManager.default.destinationOfSymbolicLink(atPath: run.layout.lastSet)
        let damaged = "checkpoints/step-00000004.broken"
        try FileManager.default.copyItem(atPath: run.layout.directory + "/" + good, toPath: run.layout.directory + "/" + damaged)
        let path = run.layout.directory + "/" + damaged + "/" + file
        #expect(truncate(path, 10) == 0)
        try FileManager.default.removeItem(atPath: run.layout.lastSet)
        try FileManager.default.createSymbolicLink(atPath: run.layout.lastSet, withDestinationPath: damaged)

        let result = try resumed(run)
        #expect(result.outcome == .completed(epochs: 2))
        #expect(result.skipped.count == 1 && result.skipped[0].contains(reason), "\(result.skipped)")
        #expect(result.from == run.layout.directory + "/" + good)
        #expect(!FileManager.default.fileExists(atPath: run.layout.directory + "/" + damaged))
    }

    @Test("a state from another step than the set says is refused")
    func stepMismatch() throws {
        let scratch = try Scratch()
        let run = try stoppedRun(in: scratch, steps: 3)
        let manifestPath = run.layout.lastSet + "/set.json"
        var manifest = try JSONDecoder().decode(CheckpointSet.Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: manifestPath)))
        manifest.step = 2
        try JSONEncoder().encode(manifest).write(to: URL(fileURLWithPath: manifestPath))
        #expect {
            _ = try resumed(run)
        } throws: { error in
            "\(error)".contains("the state is of step 3, the set says 2") && "\(error)".contains("start the run again without --resume")
        }
    }

    @Test("resuming cuts the log back to the set's step, dropping a half-written line")
    func logIsCut() throws {
        let scratch = try Scratch()
        let run = try stoppedRun(in: scratch, steps: 3)
        let handle = try #require(FileHandle(forWritingAtPath: run.layout.log))
        handle.seekToEndOfFile()
        handle.write(Data("{\"kind\":\"step\",\"step\":4,\"epoch\":1}\n{\"kind\":\"st".utf8))
        try handle.close()
        #expect(try resumed(run).outcome == .completed(epochs: 2))
        let steps = try logRecords(run.layout.log).filter { $0.kind == .step }.map(\.step)
        #expect(steps == Array(1...steps.count), "\(steps)")
    }

    @Test("a run folder of an older Glimpse (last.safetensors, last.state.safetensors, progress.json) resumes and becomes a set")
    func olderRunFolder() throws {
        let scratch = try Scratch()
        let run = try stoppedRun(in: scratch, steps: 3)
        let directory = run.layout.directory
        let set = try FileManager.default.destinationOfSymbolicLink(atPath: run.layout.lastSet)
        try FileManager.default.removeItem(atPath: run.layout.last)
        try FileManager.default.removeItem(atPath: run.layout.lastSet)
        for (from, to) in [("model.safetensors", "last.safetensors"), ("state.safetensors", "last.state.safetensors"),
                           ("progress.json", "progress.json")] {
            try FileManager.default.moveItem(atPath: directory + "/" + set + "/" + from, toPath: directory + "/" + to)
        }
        try FileManager.default.removeItem(atPath: directory + "/checkpoints")
        let result = try resumed(run)
        #expect(result.outcome == .completed(epochs: 2))
        #expect(result.from == directory)
        #expect(CheckpointSet.isLink(run.layout.last) && CheckpointSet.isLink(run.layout.lastSet))
        #expect(!FileManager.default.fileExists(atPath: directory + "/last.state.safetensors"))
        #expect(!FileManager.default.fileExists(atPath: directory + "/progress.json"))
    }

    @Test("a fresh run refuses a folder holding a set, and clears one holding only a killed first save")
    func freshRun() throws {
        let scratch = try Scratch()
        let run = try stoppedRun(in: scratch, steps: 3)
        #expect(throws: TrainingError.self) { try run.run() }
        // Only a half-written set: nothing to resume, so the run starts over.
        let set = try FileManager.default.destinationOfSymbolicLink(atPath: run.layout.lastSet)
        try FileManager.default.removeItem(atPath: run.layout.lastSet)
        try FileManager.default.removeItem(atPath: run.layout.last)
        try FileManager.default.removeItem(atPath: run.layout.directory + "/" + set + "/set.json")
        FileManager.default.createFile(atPath: run.layout.directory + "/.best.safetensors.tmp-abcdef", contents: Data([1]))
        #expect(try run.run() == .stepLimitReached(step: 3))
        let steps = try logRecords(run.layout.log).filter { $0.kind == .step }.map(\.step)
        #expect(steps == [1, 2, 3])
        #expect(try FileManager.default.contentsOfDirectory(atPath: run.layout.directory + "/checkpoints").count == 1)
        #expect(!FileManager.default.fileExists(atPath: run.layout.directory + "/.best.safetensors.tmp-abcdef"))
    }

    @Test("when the only set is damaged, --resume says to start again, and a fresh start does")
    func onlySetDamaged() throws {
        let scratch = try Scratch()
        let run = try stoppedRun(in: scratch, steps: 3)
        #expect(truncate(run.layout.lastSet + "/model.safetensors", 100) == 0)
        #expect {
            _ = try resumed(run)
        } throws: { error in
            "\(error)".contains("model.safetensors has 100 bytes") && "\(error)".contains("start the run again without --resume")
        }
        #expect(try run.run() == .stepLimitReached(step: 3))
        #expect(try Checkpoint(contentsOf: run.layout.last).model.configuration.hiddenSize == 16)
    }
}
