import Dispatch
import Foundation
import GlimpseLayers
import GlimpseTensor
import GlimpseTestSupport
import Testing

/// Synchronised BatchNorm (`BatchNorm2d.statisticsExchange`) splits a batch over ranks and must
/// compute what one layer computes on the whole batch: the same outputs, input gradients, summed
/// parameter gradients and running statistics. Here two threads stand in for two ranks, summing
/// through an in-memory exchange (the real one is MPI's allreduce, tested under mpirun in
/// DataParallelTrainingTests); the whole batch's layer is the one the gradient checks cover.
@Suite("Synchronised BatchNorm2d")
struct SynchronizedBatchNormTests {
    /// Sums the buffers of `parties` threads, each calling `sum` at the same points.
    final class ThreadExchange: @unchecked Sendable {
        private let parties: Int
        private let condition = NSCondition()
        private var contributions: [[Double]] = []
        private var result: [Double] = []
        private var generation = 0
        /// Exchanges made (each counted once).
        private(set) var exchanges = 0

        init(parties: Int) { self.parties = parties }

        func sum(_ values: inout [Double]) {
            condition.lock()
            defer { condition.unlock() }
            let mine = generation
            contributions.append(values)
            if contributions.count == parties {
                result = contributions.dropFirst().reduce(contributions[0]) { zip($0, $1).map(+) }
                contributions = []
                generation += 1
                exchanges += 1
                condition.broadcast()
            } else {
                while generation == mine { condition.wait() }
            }
            values = result
        }
    }

    /// Images `range` of a [N, C, H, W] tensor.
    static func images(_ range: Range<Int>, of tensor: Tensor) -> Tensor {
        let size = tensor.shape.dropFirst().reduce(1, *)
        return Tensor(shape: [range.count] + tensor.shape.dropFirst(), scalars: Array(tensor.scalars[range.lowerBound * size..<range.upperBound * size]))
    }

    @Test("two ranks with synchronised statistics compute what one layer computes on the whole batch",
          arguments: [false, true])
    func equalsWholeBatch(fusedReLU: Bool) {
        var generator = SeededGenerator(seed: 5)
        // Ranks with unequal shares (2 and 3 images), and channels whose means differ from rank to rank.
        let input = Tensor(randomNormal: [5, 3, 4, 6], mean: 2, standardDeviation: 1.5, using: &generator)
        let outputGradient = Tensor(randomNormal: [5, 3, 4, 6], mean: 0, standardDeviation: 1, using: &generator)
        var whole = BatchNorm2d(channels: 3)
        whole.weight = Tensor(shape: [3], scalars: [1.5, 0.5, -1])
        whole.bias = Tensor(shape: [3], scalars: [0.1, -0.2, 0.3])

        @Sendable func pass(_ layer: inout BatchNorm2d, _ x: Tensor, _ dy: Tensor) -> (Tensor, Tensor, BatchNorm2d.Gradients) {
            var gradients = layer.zeroGradients()
            if fusedReLU {
                let (y, cache) = layer.forwardThenReLU(x, mode: .training)
                let dx = layer.backwardThroughReLU(dy, reluOutput: y, cache: cache, into: &gradients)
                return (y, dx, gradients)
            }
            let (y, cache) = layer.forward(x, mode: .training)
            return (y, layer.backward(dy, cache: cache, into: &gradients), gradients)
        }
        let expected = pass(&whole, input, outputGradient)

        let exchange = ThreadExchange(parties: 2)
        let shares = [0..<2, 2..<5]
        final class Results: @unchecked Sendable { var ranks: [(BatchNorm2d, Tensor, Tensor, BatchNorm2d.Gradients)?] = [nil, nil] }
        let results = Results()
        let start = whole
        DispatchQueue.concurrentPerform(iterations: 2) { rank in
            var layer = BatchNorm2d(weight: start.weight, bias: start.bias, runningMean: Tensor(zeros: [3]),
                                    runningVariance: Tensor(shape: [3], repeating: 1))
            layer.statisticsExchange = StatisticsExchange { exchange.sum(&$0) }
            let (y, dx, gradients) = pass(&layer, Self.images(shares[rank], of: input), Self.images(shares[rank], of: outputGradient))
            results.ranks[rank] = (layer, y, dx, gradients)
        }
        let (first, second) = (results.ranks[0]!, results.ranks[1]!)
        // Forward: sums and counts, then squared deviations; backward: its two sums.
        #expect(exchange.exchanges == 3)
        assertClose(Tensor(shape: expected.0.shape, scalars: first.1.scalars + second.1.scalars), expected.0, name: "output")
        assertClose(Tensor(shape: expected.1.shape, scalars: first.2.scalars + second.2.scalars), expected.1, name: "input gradient")
        assertClose(first.3.weight + second.3.weight, expected.2.weight, name: "γ gradient, summed over the ranks")
        assertClose(first.3.bias + second.3.bias, expected.2.bias, name: "β gradient, summed over the ranks")
        for (rank, layer) in [first.0, second.0].enumerated() {
            assertClose(layer.runningMean, whole.runningMean, name: "rank \(rank) running mean")
            assertClose(layer.runningVariance, whole.runningVariance, name: "rank \(rank) running variance (unbiased by the whole count)")
        }
        // Without the exchange a rank normalises with its own share's statistics: visibly different.
        var alone = BatchNorm2d(weight: start.weight, bias: start.bias, runningMean: Tensor(zeros: [3]),
                                runningVariance: Tensor(shape: [3], repeating: 1))
        let own = pass(&alone, Self.images(0..<2, of: input), Self.images(0..<2, of: outputGradient))
        #expect(zip(own.0.scalars, first.1.scalars).map { abs($0 - $1) }.max()! > 1e-2)
    }
}
