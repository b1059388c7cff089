import Foundation
import Testing
@testable import GlimpseTraining

/// However a run ends, log.jsonl's stop record says why in words (not a Swift enum's dump).
@Suite("Stop reasons in log.jsonl")
struct StopReasonTests {
    enum Ending: String, CaseIterable, Sendable {
        case epochsDone, earlyStopping, stepLimit, timeBudget, interrupted
    }

    @Test("each ending is the log's last record, once, in words", arguments: Ending.allCases)
    func reason(ending: Ending) throws {
        let scratch = try Scratch()
        let dataset = try syntheticDataset(in: scratch, count: 20)
        var options = tinyOptions(epochs: 2)
        final class Flag: @unchecked Sendable { var raised = false }
        let stop = Flag()
        var hooks = TrainingHooks()
        let expected: String
        switch ending {
        case .epochsDone:
            expected = "epochs done"
        case .earlyStopping:
            // A rate too small to move a float32 weight: the second validation cannot beat the first.
            options.epochs = 3
            options.learningRate = 1e-30
            options.earlyStoppingPatience = 1
            expected = "early stopping: no improvement in CIDEr-D for 1 epoch"
        case .stepLimit:
            options.maximumSteps = 3
            expected = "step limit"
        case .timeBudget:
            options.epochs = nil
            options.minutes = 1.0 / 60
            hooks.afterStep = { _, step in if step == 2 { usleep(1_100_000) } }
            expected = "time budget"
        case .interrupted:
            hooks.afterStep = { _, step in if step == 2 { stop.raised = true } }
            expected = "interrupted"
        }
        var run = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/run", options: options)
        run.hooks = hooks
        let outcome = try run.run(shouldStop: { stop.raised })
        #expect(outcome.reason == expected, "\(outcome)")
        let records = try logRecords(run.layout.log)
        #expect(records.filter { $0.kind == .stop }.count == 1)
        #expect(records.last?.kind == .stop)
        #expect(records.last?.reason == expected)
        // At the last step taken (none when a loaded machine spends the whole budget before the first).
        #expect(records.last?.step == records.last(where: { $0.kind == .step })?.step ?? 0)
    }
}
