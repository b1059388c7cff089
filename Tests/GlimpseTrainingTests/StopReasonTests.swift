import Foundation
import Testing
@testable import GlimpseTraining

/// However a run ends, log.jsonl's stop record says why in words (not a Swift enum's dump).
@Suite("Stop reasons in log.jsonl")
struct StopReasonTests {
    @Test("each way a run ends has its reason in words", arguments: [
        (TrainingOutcome.completed(epochs: 3), "epochs done"),
        (.stoppedEarly(epoch: 9, patience: 6, metric: .ciderD), "early stopping: no improvement in CIDEr-D for 6 epochs"),
        (.stoppedEarly(epoch: 2, patience: 1, metric: .content),
         "early stopping: no improvement in the share of captions with every object right for 1 epoch"),
        (.timeBudgetReached(step: 40), "time budget"),
        (.stepLimitReached(step: 40), "step limit"),
        (.interrupted(step: 40), "interrupted"),
        (.nonFiniteLoss(step: 8, epoch: 2, loss: .nan, gradientNorm: .infinity), "non-finite loss nan or gradient norm inf"),
    ])
    func reasons(outcome: TrainingOutcome, reason: String) {
        #expect(outcome.reason == reason)
    }

    @Test("a real run stopped inside an epoch, then resumed to its end, logs both stops in words at their steps")
    func loggedStops() throws {
        let scratch = try Scratch()
        let dataset = try syntheticDataset(in: scratch, count: 20)
        var options = tinyOptions(epochs: 2)
        options.validationImages = 1
        var limited = options
        limited.maximumSteps = 2
        let first = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/run", options: limited)
        #expect(try first.run() == .stepLimitReached(step: 2))
        let resumed = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/run", options: options, resume: true)
        #expect(try resumed.run() == .completed(epochs: 2))

        let records = try logRecords(resumed.layout.log)
        let stops = records.filter { $0.kind == .stop }
        #expect(stops.map(\.reason) == ["step limit", "epochs done"])
        #expect(stops.map(\.step) == [2, records.last(where: { $0.kind == .step })?.step ?? -1])
        #expect(records.last?.kind == .stop)
    }
}
