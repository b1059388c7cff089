import Foundation
@testable import GlimpseTool
import GlimpseTraining
import Testing

/// `glimpse train`'s status line, as a pure function of what it shows, and the output that
/// keeps the run's last word off the bar's line.
@Suite("training status line")
struct TrainingStatusTests {
    static let midRun = TrainingStatus(epoch: 3, epochs: 20, batch: 37, steps: 120, crossEntropy: 2.31412, reward: nil,
                                       imagesPerSecond: 31.46, elapsed: 4000, timeBudget: nil, remaining: 3733)

    @Test("the bar shows the epoch of the run's epochs, cross-entropy as its headline, the pace and the run's ETA")
    func barText() {
        #expect(Self.midRun.text(bar: true)
                == "epoch 3 of 20 [########....................] 37/120 steps  cross-entropy 2.314  run ETA 1:02:13  31.5 images/s")
        // The total loss (cross-entropy plus the attention penalty's nearly constant ~40) is left to log.jsonl.
        #expect(!Self.midRun.text(bar: true).contains("loss"))
    }

    @Test("on a narrow terminal the bar narrows, then the pace goes, so that the line never wraps")
    func narrowTerminal() {
        let line = Self.midRun.text(bar: true, columns: 80)
        #expect(line == "epoch 3 of 20 [###.........] 37/120 steps  cross-entropy 2.314  run ETA 1:02:13")
        #expect(line.count < 80)
        #expect(Self.midRun.text(bar: true, columns: 100)
                == "epoch 3 of 20 [###.........] 37/120 steps  cross-entropy 2.314  run ETA 1:02:13  31.5 images/s")
        // Too narrow for even the headline: cut, never wrapped.
        #expect(Self.midRun.text(bar: true, columns: 40).count == 39)
    }

    @Test("off a terminal the plain lines carry the same information without the bar")
    func plainText() {
        #expect(Self.midRun.text(bar: false)
                == "epoch 3 of 20: 37/120 steps  cross-entropy 2.314  run ETA 1:02:13  31.5 images/s")
    }

    @Test("with a time budget and no epoch count: the time used of the budget, and the budget's end as the ETA")
    func timeBudget() {
        let horizon = TrainingHorizon(epochs: nil, stepsPerEpoch: 10, timeBudget: 1800)
        let remaining = TrainingStatus.remaining(horizon, epoch: 2, batch: 5, step: 15, secondsPerStep: 2, elapsed: 750)
        #expect(remaining == 1050)
        let status = TrainingStatus(epoch: 2, epochs: nil, batch: 5, steps: 10, crossEntropy: 1, reward: nil,
                                    imagesPerSecond: nil, elapsed: 750, timeBudget: 1800, remaining: remaining)
        #expect(status.text(bar: false) == "epoch 2: 5/10 steps  cross-entropy 1.000  run ETA 17:30  time 12:30 of 30:00")
    }

    @Test("self-critical training: the mean reward is the headline")
    func reward() {
        var status = Self.midRun
        status.reward = 0.8123
        status.crossEntropy = nil
        #expect(status.text(bar: false).contains("37/120 steps  reward (CIDEr-D) 0.812  run ETA 1:02:13"))
    }

    @Test("the ETA counts every step left in the run, not only the epoch's; a budget or step limit that ends it sooner wins")
    func remaining() {
        // Epoch 3 of 20 at step 37 of 120: 83 steps of this epoch and 17 epochs of 120 are left.
        var horizon = TrainingHorizon(epochs: 20, stepsPerEpoch: 120)
        #expect(TrainingStatus.remaining(horizon, epoch: 3, batch: 37, step: 277, secondsPerStep: 0.5, elapsed: 200)
                == Double(83 + 17 * 120) * 0.5)
        horizon.timeBudget = 600
        #expect(TrainingStatus.remaining(horizon, epoch: 3, batch: 37, step: 277, secondsPerStep: 0.5, elapsed: 200) == 400)
        horizon.maximumSteps = 280
        #expect(TrainingStatus.remaining(horizon, epoch: 3, batch: 37, step: 277, secondsPerStep: 0.5, elapsed: 200) == 1.5)
        // The pace is unknown until a second step: only the budget bounds the run then.
        #expect(TrainingStatus.remaining(horizon, epoch: 1, batch: 1, step: 1, secondsPerStep: nil, elapsed: 200) == 400)
        #expect(TrainingStatus.remaining(TrainingHorizon(epochs: nil, stepsPerEpoch: 120), epoch: 1, batch: 1, step: 1,
                                         secondsPerStep: 0.5, elapsed: 0) == nil)
        // Past the budget (validation ran over it): nothing left, never a negative time.
        #expect(TrainingStatus.remaining(horizon, epoch: 3, batch: 37, step: 277, secondsPerStep: 0.5, elapsed: 700) == 0)
    }

    @Test("the headline is a mean of recent steps, weighted towards the latest, with no pull towards the first")
    func recentMean() {
        var mean = RecentMean()
        #expect(mean.value == nil)
        mean.add(4)
        #expect(mean.value == 4)
        mean.add(2)
        #expect(mean.value == (0.95 * 4 + 2) / 1.95)
        for _ in 0..<200 { mean.add(2) }
        #expect(abs(mean.value! - 2) < 1e-4)
    }

    @Test("a line after a bar drawn in place starts on a new line; the bar is cleared for lines in between")
    func lineAfterBar() {
        final class Captured { var text = "" }
        let captured = Captured()
        let output = StatusOutput(interactive: true) { captured.text += $0 }
        output.status("epoch 1 of 3 [#...] 1/3 steps")
        output.line("learning rate lowered to 0.0005")
        output.status("epoch 1 of 3 [##..] 2/3 steps")
        output.endStatus()
        output.endStatus()
        output.line("glimpse: interrupted at step 2")
        #expect(captured.text == "\r\u{1B}[Kepoch 1 of 3 [#...] 1/3 steps"
                + "\r\u{1B}[Klearning rate lowered to 0.0005\n"
                + "\r\u{1B}[Kepoch 1 of 3 [##..] 2/3 steps\n"
                + "glimpse: interrupted at step 2\n")

        captured.text = ""
        let plain = StatusOutput(interactive: false) { captured.text += $0 }
        plain.status("epoch 1 of 3: 1/3 steps")
        plain.endStatus()
        plain.line("glimpse: interrupted at step 1")
        #expect(captured.text == "epoch 1 of 3: 1/3 steps\nglimpse: interrupted at step 1\n")
    }
}
