import Foundation
import GlimpseTensor

/// Softmax cross-entropy over logits [N, V] and target ids [N] (PyTorch
/// `F.cross_entropy(..., ignore_index:, reduction: "mean")`): the mean of
/// −log softmax(logits)[target] over the rows whose target is not `ignoredIndex`
/// (padding), so padded batches weigh every real token equally.
///
/// When every target is ignored the loss is 0 with a zero gradient (PyTorch
/// returns NaN there; a batch of padding should not poison training).
public struct SoftmaxCrossEntropy: Sendable {
    /// The target id that marks padding; nil counts every row.
    public var ignoredIndex: Int?

    public init(ignoredIndex: Int? = nil) {
        self.ignoredIndex = ignoredIndex
    }

    /// The mean loss and the number of rows it averaged.
    public func callAsFunction(logits: Tensor, targets: [Int]) -> (loss: Float, countedTokens: Int) {
        let result = evaluate(logits: logits, targets: targets, writingGradient: false)
        return (result.loss, result.countedTokens)
    }

    /// The mean loss, the rows counted, and dLoss/dLogits [N, V]:
    /// (softmax − onehot(target)) / counted for counted rows, zero for ignored ones.
    public func lossAndGradient(logits: Tensor, targets: [Int]) -> (loss: Float, countedTokens: Int, logitsGradient: Tensor) {
        let result = evaluate(logits: logits, targets: targets, writingGradient: true)
        return (result.loss, result.countedTokens, result.gradient)
    }

    /// −log softmax(logits)[target] of every row [N], no mean: per-token losses for a caller
    /// that weighs them (self-critical training weighs each caption by its advantage).
    public static func negativeLogLikelihoods(logits: Tensor, targets: [Int]) -> [Float] {
        precondition(logits.rank == 2 && logits.shape[0] == targets.count,
                     "cross-entropy needs logits [N, V] with N = \(targets.count) targets, got \(logits.shape)")
        let (rows, vocabularySize) = (logits.shape[0], logits.shape[1])
        var losses = [Float](repeating: 0, count: rows)
        logits.withUnsafeBufferPointer { logits in
            for row in 0..<rows {
                let target = targets[row]
                precondition(target >= 0 && target < vocabularySize, "target \(target) outside vocabulary 0..<\(vocabularySize)")
                let values = logits.baseAddress! + row * vocabularySize
                var largest = -Float.infinity
                for index in 0..<vocabularySize { largest = max(largest, values[index]) }
                var sum: Float = 0
                for index in 0..<vocabularySize { sum += exp(values[index] - largest) }
                losses[row] = log(sum) + largest - values[target]
            }
        }
        return losses
    }

    private func evaluate(logits: Tensor, targets: [Int], writingGradient: Bool)
        -> (loss: Float, countedTokens: Int, gradient: Tensor) {
        precondition(logits.rank == 2 && logits.shape[0] == targets.count,
                     "cross-entropy needs logits [N, V] with N = \(targets.count) targets, got \(logits.shape)")
        let (rows, vocabularySize) = (logits.shape[0], logits.shape[1])
        let counted = targets.reduce(0) { $0 + ($1 == ignoredIndex ? 0 : 1) }
        var gradient = Tensor(zeros: writingGradient ? [rows, vocabularySize] : [0, vocabularySize])
        guard counted > 0 else { return (0, 0, Tensor(zeros: [rows, vocabularySize])) }
        let scale = 1 / Float(counted)
        var total = 0.0
        logits.withUnsafeBufferPointer { logits in
            gradient.withUnsafeMutableBufferPointer { gradient in
                for row in 0..<rows where targets[row] != ignoredIndex {
                    let target = targets[row]
                    precondition(target >= 0 && target < vocabularySize,
                                 "target \(target) outside vocabulary 0..<\(vocabularySize)")
                    let values = logits.baseAddress! + row * vocabularySize
                    var largest = -Float.infinity
                    for index in 0..<vocabularySize { largest = max(largest, values[index]) }
                    var sum: Float = 0
                    if writingGradient {
                        let probabilities = gradient.baseAddress! + row * vocabularySize
                        for index in 0..<vocabularySize {
                            let value = exp(values[index] - largest)
                            probabilities[index] = value
                            sum += value
                        }
                        let normalizer = scale / sum
                        for index in 0..<vocabularySize { probabilities[index] *= normalizer }
                        probabilities[target] -= scale
                    } else {
                        for index in 0..<vocabularySize { sum += exp(values[index] - largest) }
                    }
                    // −log softmax = log Σ exp(l − max) + max − l_target
                    total += Double(log(sum)) + Double(largest) - Double(values[target])
                }
            }
        }
        return (Float(total / Double(counted)), counted, gradient)
    }
}
