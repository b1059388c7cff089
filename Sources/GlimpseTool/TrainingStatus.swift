import Foundation
import GlimpseTraining

/// What `glimpse train`'s status line says after a step: a value, so that the line is a pure
/// function of it (`text(bar:)`).
struct TrainingStatus: Equatable {
    /// The epoch under way, counted from 1, of `epochs` (nil: until the time budget).
    var epoch: Int
    var epochs: Int?
    /// Steps of the epoch done (`batch`) of its `steps`.
    var batch: Int
    var steps: Int
    /// The headline number: the cross-entropy, smoothed over recent steps (the loss adds the
    /// attention penalty, large and nearly constant, which would hide the progress)…
    var crossEntropy: Float?
    /// …or, in self-critical training, the sampled captions' mean reward (CIDEr-D), smoothed.
    var reward: Double?
    var imagesPerSecond: Double?
    /// Seconds since this invocation started, and its time budget, on the same clock.
    var elapsed: TimeInterval
    var timeBudget: TimeInterval?
    /// Seconds until the whole run ends (`remaining(_:epoch:batch:step:secondsPerStep:elapsed:)`);
    /// nil when nothing bounds it or its pace is not known yet.
    var remaining: TimeInterval?

    /// `epoch 3 of 20 [####....] 37/120 steps  cross-entropy 2.314  run ETA 1:02:13  31.5 images/s`, with a
    /// time budget `time 12:30 of 30:00` before the pace. The bar is drawn only on a terminal (`bar`), where
    /// the line must fit in `columns` less one (a line that wraps cannot be redrawn in place): the bar
    /// narrows, then the pace, the time and the ETA are left out, in that order. Plain lines read
    /// `epoch 3 of 20: 37/120 steps  cross-entropy 2.314  …`.
    func text(bar: Bool, columns: Int? = nil) -> String {
        let name = "epoch \(epoch)" + (epochs.map { " of \($0)" } ?? "")
        let counts = "\(batch)/\(steps) steps"
        // In the order they give way when the line is too long, last first.
        var details: [String] = []
        if let reward {
            details.append(String(format: "reward (CIDEr-D) %.3f", reward))
        } else if let crossEntropy {
            details.append(String(format: "cross-entropy %.3f", crossEntropy))
        }
        let headline = details.count
        if let remaining { details.append("run ETA \(ProgressReporter.clock(remaining))") }
        if let timeBudget {
            details.append("time \(ProgressReporter.clock(elapsed)) of \(ProgressReporter.clock(timeBudget))")
        }
        if let imagesPerSecond { details.append(String(format: "%.1f images/s", imagesPerSecond)) }
        func line(barWidth: Int?, kept: Int) -> String {
            let head = barWidth.map { "\(name) [\(ProgressReporter.bar(batch, of: steps, width: $0))] \(counts)" }
                ?? "\(name): \(counts)"
            return ([head] + details.prefix(kept)).joined(separator: "  ")
        }
        guard bar else { return line(barWidth: nil, kept: details.count) }
        let limit = max(0, (columns ?? Int.max) - 1)
        for kept in stride(from: details.count, through: headline, by: -1) {
            for width in [28, 20, 12] where line(barWidth: width, kept: kept).count <= limit {
                return line(barWidth: width, kept: kept)
            }
        }
        return String(line(barWidth: 12, kept: headline).prefix(limit))
    }

    /// Seconds left of the run after `step` (the run's count) at `batch` of `epoch` (from 1),
    /// at `secondsPerStep` (validation included, measured over the run so far): the least of
    /// the steps to its last epoch's end, the steps to its step limit and the rest of its time
    /// budget. nil when none bounds it (epochs unlimited without a budget) or the pace is unknown.
    static func remaining(_ horizon: TrainingHorizon, epoch: Int, batch: Int, step: Int, secondsPerStep: Double?,
                          elapsed: TimeInterval) -> TimeInterval? {
        var bounds: [TimeInterval] = []
        if let secondsPerStep {
            if let epochs = horizon.epochs {
                let steps = max(0, epochs - epoch) * horizon.stepsPerEpoch + max(0, horizon.stepsPerEpoch - batch)
                bounds.append(Double(steps) * secondsPerStep)
            }
            if let maximum = horizon.maximumSteps { bounds.append(Double(max(0, maximum - step)) * secondsPerStep) }
        }
        if let budget = horizon.timeBudget { bounds.append(max(0, budget - elapsed)) }
        return bounds.min()
    }
}

/// An exponentially weighted mean of recent values (each value weighing 0.95 of the next one's),
/// without the pull towards the first value that an average started from it would have.
struct RecentMean {
    private var sum = 0.0, weight = 0.0

    mutating func add(_ value: Double) {
        sum = 0.95 * sum + value
        weight = 0.95 * weight + 1
    }

    var value: Double? { weight > 0 ? sum / weight : nil }
}
