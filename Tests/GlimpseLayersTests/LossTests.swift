import Foundation
import GlimpseLayers
import GlimpseTensor
import GlimpseTestSupport
import Testing

@Suite("SoftmaxCrossEntropy")
struct LossTests {
    static let padding = 0
    static let logits = Tensor(shape: [3, 4], scalars: [
        1, 2, 0.5, -1,
        9, 9, 9, 9, // padding row: must not count
        0, 0, 3, 1,
    ])
    static let targets = [1, padding, 3]

    @Test("averages −log softmax over the non-padding rows only")
    func lossIgnoresPadding() {
        let loss = SoftmaxCrossEntropy(ignoredIndex: Self.padding)
        let (value, counted) = loss(logits: Self.logits, targets: Self.targets)
        func negativeLogSoftmax(_ row: [Double], _ target: Int) -> Double {
            log(row.map { exp($0) }.reduce(0, +)) - row[target]
        }
        let expected = (negativeLogSoftmax([1, 2, 0.5, -1], 1) + negativeLogSoftmax([0, 0, 3, 1], 3)) / 2
        #expect(counted == 2)
        #expect(abs(Double(value) - expected) < 1e-6)
        #expect(loss.lossAndGradient(logits: Self.logits, targets: Self.targets).loss == value)
    }

    @Test("gradient is (softmax − onehot)/counted, zero on padding rows, and matches central differences")
    func gradient() {
        let loss = SoftmaxCrossEntropy(ignoredIndex: Self.padding)
        let (_, _, gradient) = loss.lossAndGradient(logits: Self.logits, targets: Self.targets)
        #expect(gradient.row(1) == Tensor(zeros: [4]))
        // Each counted row of softmax − onehot sums to zero.
        #expect(abs(gradient.row(0).sum()) < 1e-6 && abs(gradient.row(2).sum()) < 1e-6)
        GradientChecker().check("logits", analytic: gradient, at: Self.logits) {
            Double(loss(logits: $0, targets: Self.targets).loss)
        }
    }

    @Test("without an ignored index every row counts; all-padding gives 0, not NaN")
    func edgeCases() {
        let all = SoftmaxCrossEntropy()(logits: Self.logits, targets: Self.targets)
        #expect(all.countedTokens == 3)
        let (value, counted, gradient) = SoftmaxCrossEntropy(ignoredIndex: 0)
            .lossAndGradient(logits: Self.logits, targets: [0, 0, 0])
        #expect(value == 0 && counted == 0 && gradient == Tensor(zeros: [3, 4]))
    }

    @Test("large logits do not overflow")
    func stability() {
        let logits = Tensor(shape: [1, 3], scalars: [1000, 0, -1000])
        let (value, _, gradient) = SoftmaxCrossEntropy().lossAndGradient(logits: logits, targets: [0])
        #expect(value == 0)
        #expect(gradient == Tensor(zeros: [1, 3]))
    }
}
