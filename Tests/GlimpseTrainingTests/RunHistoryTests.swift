import Foundation
import GlimpseModel
import Testing
@testable import GlimpseTraining

/// Reading a run folder back (`glimpse report`): whatever state the run is in.
@Suite("Run history")
struct RunHistoryTests {
    @Test("stop reasons logged as Swift cases by older versions read as words; words stay as they are", arguments: [
        ("stepLimitReached(step: 5)", "step limit reached"),
        ("timeBudgetReached(step: 12)", "time budget reached"),
        ("interrupted(step: 7)", "interrupted"),
        ("interrupted", "interrupted"),
        ("non-finite loss nan or gradient norm nan", "non-finite loss nan or gradient norm nan"),
        ("time budget reached", "time budget reached"),
    ])
    func readableReasons(logged: String, shown: String) {
        #expect(RunHistory.readableReason(logged) == shown)
    }

    @Test("a log cut by a crash mid-line keeps its whole records, says so, and reads non-finite losses")
    func cutLog() throws {
        let scratch = try Scratch()
        let lines = """
            {"epoch":1,"kind":"step","loss":4.5,"step":1}
            {"epoch":1,"kind":"step","loss":"nan","step":2}
            {"epoch":1,"kind":"stop","reason":"stepLimitReached(step: 2)","step":2}
            {"epoch":1,"kind":"st
            """
        try Data(lines.utf8).write(to: URL(fileURLWithPath: scratch.path + "/log.jsonl"))
        let history = try RunHistory.read(scratch.path)
        #expect(history.records.count == 3)
        #expect(history.records[1].loss?.isNaN == true)
        #expect(history.stepsDone == 2)
        #expect(history.stopReason == "step limit reached at step 2")
        #expect(history.notes.contains { $0.hasPrefix("log.jsonl ends in a line that was cut short") })
        #expect(history.notes.contains { $0.hasPrefix("config.json is missing") })
        #expect(history.bestCheckpoint == nil && history.notes.contains { $0.hasPrefix("no best checkpoint") })
        #expect(!history.isTraining)
    }

    @Test("without a stop record, the saved progress and the planned epochs say how the run ended")
    func endWithoutStopRecord() throws {
        let scratch = try Scratch()
        let layout = RunLayout(directory: scratch.path)
        let options = tinyOptions(epochs: 4)
        let configuration = RunConfiguration(options: options, model: try options.modelConfiguration(vocabularySize: 10, pretrained: nil),
                                             dataset: "/data", datasetFormat: .karpathy, minimumWordCount: 1,
                                             trainingImages: 10, validationImages: 2)
        try JSONFile.write(configuration, to: layout.configuration)
        try Data("{\"epoch\":1,\"kind\":\"step\",\"step\":1}\n".utf8).write(to: URL(fileURLWithPath: layout.log))
        #expect(try RunHistory.read(scratch.path).stopReason == "no stop was logged: the process ended without saying why (killed?)")

        try FileManager.default.createDirectory(atPath: layout.lastSet, withIntermediateDirectories: true)
        try JSONFile.write(RunProgress(completedEpochs: 4), to: layout.progress)
        #expect(try RunHistory.read(scratch.path).stopReason == "completed 4 epochs")
        try JSONFile.write(RunProgress(completedEpochs: 3, finished: true), to: layout.progress)
        let stopped = try RunHistory.read(scratch.path)
        #expect(stopped.stopReason == "stopped early after epoch 3 (no better validation score for 6 epochs)")
        #expect(stopped.epochsDone == 3 && stopped.configuration == configuration)
    }
}
