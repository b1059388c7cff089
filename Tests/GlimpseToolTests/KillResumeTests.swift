import Foundation
import GlimpseSynth
import Testing

/// `kill -9` at any moment of a training run, then `--resume`: the run ends exactly where an
/// uninterrupted one does, and its log has every step once.
@Suite("kill -9 and resume", .serialized)
struct KillResumeTests {
    static let tinyModel = TrainCommandTests.tinyModel
    static let epochs = ["--epochs", "4"]
    /// The checkpoint set's stages, as `CheckpointSet.Stage` names them.
    static let stages = ["model", "state", "progress", "manifest", "pointer", "cleanup"]

    /// A dataset and the files of an uninterrupted run on it.
    final class Reference: @unchecked Sendable {
        let scratch: ScratchFolder
        let data: String
        let files: [String: [UInt8]]
        init() throws {
            scratch = try ScratchFolder()
            data = scratch.path + "/data"
            try SyntheticDataset(count: 24, seed: 4).write(to: data)
            let run = scratch.path + "/straight"
            let outcome = try ToolRunner.run(["train", data, "--out", run] + KillResumeTests.epochs + KillResumeTests.tinyModel)
            precondition(outcome.status == 0, outcome.standardError)
            files = KillResumeTests.results(of: run)
        }
    }
    static let reference = Result { try Reference() }

    /// What must match between runs: the final set's weights and state, and `best`.
    static func results(of run: String) -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        for name in ["last/model.safetensors", "last/state.safetensors", "last/progress.json", "best.safetensors"] {
            files[name] = (try? Data(contentsOf: URL(fileURLWithPath: run + "/" + name))).map(Array.init)
        }
        return files
    }

    /// The steps of the log's step records, in order.
    static func loggedSteps(of run: String) throws -> [Int] {
        let text = try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8)
        struct Record: Decodable { var kind: String; var step: Int }
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Record.self, from: Data($0.utf8)) }
            .filter { $0.kind == "step" }.map(\.step)
    }

    /// Starts `glimpse`, waits until standard error has shown `marker` `occurrence` times and
    /// kills it with SIGKILL right then. Returns whether it was killed (rather than finishing).
    static func runAndKill(_ arguments: [String], environment: [String: String], marker: String,
                           occurrence: Int) throws -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ToolRunner.executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let error = Pipe()
        process.standardError = error
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        var seen = 0, text = ""
        while true {
            let chunk = error.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
            seen = text.components(separatedBy: marker).count - 1
            if seen >= occurrence { kill(process.processIdentifier, SIGKILL); break }
        }
        process.waitUntilExit()
        return process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL
    }

    static func resume(_ run: String, data: String) throws -> ToolRunner.Outcome {
        try ToolRunner.run(["train", data, "--out", run, "--resume", "--threads", "1"])
    }

    @Test("a kill before each write of the second save resumes bit-identical", arguments: stages)
    func killInsideSave(stage: String) throws {
        let reference = try Self.reference.get()
        let scratch = try ScratchFolder()
        let run = scratch.path + "/run"
        let killed = try Self.runAndKill(["train", reference.data, "--out", run] + Self.epochs + Self.tinyModel,
                                         environment: ["GLIMPSE_TEST_SAVE_PAUSE": "0.3"],
                                         marker: "test pause before \(stage)\n", occurrence: 2)
        #expect(killed)
        let resumed = try Self.resume(run, data: reference.data)
        #expect(resumed.status == 0, "\(resumed.standardError)")
        #expect(resumed.standardError.contains("resuming from \(run)/checkpoints/step-"), "\(resumed.standardError)")
        // Before the pointer moves, the first epoch's set is the one resumed; after, the second's.
        let expectedStep = ["pointer", "model", "state", "progress", "manifest"].contains(stage) ? 3 : 6
        #expect(resumed.standardError.contains("(step \(expectedStep))"), "\(resumed.standardError)")
        #expect(Self.results(of: run) == reference.files, "the resumed run's files differ from the uninterrupted run's")
        #expect(try Self.loggedSteps(of: run) == Array(1...12))
        // Only the final set is left, and no temporary file.
        let sets = try FileManager.default.contentsOfDirectory(atPath: run + "/checkpoints")
        #expect(sets.count == 1, "\(sets)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: run).filter { $0.hasPrefix(".") }.isEmpty)
    }

    @Test("with --save-every 2, a kill after the mid-epoch save of step 2 resumes from it, bit-identical to a run without")
    func killAfterPeriodicSave() throws {
        let reference = try Self.reference.get()
        let scratch = try ScratchFolder()
        let run = scratch.path + "/run"
        // 3 steps an epoch: the first save is step 2's, inside epoch 1; the kill comes as the second (epoch 1's end) begins.
        let arguments = ["train", reference.data, "--out", run, "--save-every", "2"] + Self.epochs + Self.tinyModel
        #expect(try Self.runAndKill(arguments, environment: ["GLIMPSE_TEST_SAVE_PAUSE": "0.3"],
                                    marker: "test pause before model\n", occurrence: 2))
        let resumed = try Self.resume(run, data: reference.data)
        #expect(resumed.status == 0, "\(resumed.standardError)")
        #expect(resumed.standardError.contains("at epoch 1, batch 3 (step 2)"), "\(resumed.standardError)")
        #expect(Self.results(of: run) == reference.files, "the resumed run's files differ from the uninterrupted run's")
        #expect(try Self.loggedSteps(of: run) == Array(1...12))
    }

    @Test("a kill before the first set is complete (no set.json yet): --resume says so, and a fresh start runs")
    func killInsideFirstSave() throws {
        let reference = try Self.reference.get()
        let scratch = try ScratchFolder()
        let run = scratch.path + "/run"
        let arguments = ["train", reference.data, "--out", run] + Self.epochs + Self.tinyModel
        #expect(try Self.runAndKill(arguments, environment: ["GLIMPSE_TEST_SAVE_PAUSE": "0.3"],
                                    marker: "test pause before manifest\n", occurrence: 1))
        let resumed = try Self.resume(run, data: reference.data)
        #expect(resumed.status == 1)
        #expect(resumed.standardError.contains("no complete checkpoint set"), "\(resumed.standardError)")
        #expect(resumed.standardError.contains("start the run again without --resume"), "\(resumed.standardError)")
        let again = try ToolRunner.run(arguments)
        #expect(again.status == 0, "\(again.standardError)")
        #expect(Self.results(of: run) == reference.files)
        #expect(try Self.loggedSteps(of: run) == Array(1...12))
    }

    @Test("kills at random moments, each followed by --resume, end bit-identical")
    func randomKills() throws {
        let reference = try Self.reference.get()
        let scratch = try ScratchFolder()
        let run = scratch.path + "/run"
        var generator = SystemRandomNumberGenerator()
        var arguments = ["train", reference.data, "--out", run] + Self.epochs + Self.tinyModel
        var kills = 0, finished = false
        for attempt in 0..<20 where !finished {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: ToolRunner.executable)
            process.arguments = arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            // Saves made slower, so that more kills land inside one.
            process.environment = ProcessInfo.processInfo.environment.merging(["GLIMPSE_TEST_SAVE_PAUSE": "0.01"]) { $1 }
            try process.run()
            // The last attempts run to the end.
            if attempt < 12 {
                Thread.sleep(forTimeInterval: Double.random(in: 0.05...0.6, using: &generator))
                if process.isRunning { kill(process.processIdentifier, SIGKILL); kills += 1 }
            }
            process.waitUntilExit()
            finished = process.terminationReason == .exit && process.terminationStatus == 0
            #expect(finished || process.terminationReason == .uncaughtSignal, "exit status \(process.terminationStatus)")
            // Once a set is complete the run resumes; before that it starts again. A kill between a
            // set's completion and the `last` link leaves a complete set without the link: resumable too.
            let sets = (try? FileManager.default.contentsOfDirectory(atPath: run + "/checkpoints")) ?? []
            if FileManager.default.fileExists(atPath: run + "/last")
                || sets.contains(where: { FileManager.default.fileExists(atPath: run + "/checkpoints/\($0)/set.json") }) {
                arguments = ["train", reference.data, "--out", run, "--resume", "--threads", "1"]
            }
        }
        #expect(finished)
        #expect(kills >= 1)
        #expect(Self.results(of: run) == reference.files, "after \(kills) kills")
        #expect(try Self.loggedSteps(of: run) == Array(1...12), "after \(kills) kills")
    }
}
