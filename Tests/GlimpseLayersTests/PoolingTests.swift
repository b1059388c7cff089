import GlimpseLayers
import GlimpseTensor
import GlimpseTestSupport
import Testing

@Suite("Strided and padded max-pooling; adaptive average pooling")
struct PoolingTests {
    @Test("MaxPool2d(3, stride 2, padding 1), ResNet's stem pool: padding never wins, ties go to the first maximum",
          arguments: [(7, 7), (8, 8), (5, 9)])
    func stridedPaddedMaxPool(height: Int, width: Int) {
        var generator = SeededGenerator(seed: 40)
        // Negative values, so a padded zero would win if padding took part.
        let input = Tensor(randomUniform: [2, 2, height, width], in: -4..<(-1), using: &generator).map { $0.rounded(.down) }
        let pool = MaxPool2d(kernelSize: 3, stride: 2, padding: 1)
        let (output, cache) = pool.forward(input)
        let (outputHeight, outputWidth) = ((height - 1) / 2 + 1, (width - 1) / 2 + 1)
        #expect(output.shape == [2, 2, outputHeight, outputWidth])
        for plane in 0..<4 {
            for oy in 0..<outputHeight {
                for ox in 0..<outputWidth {
                    var best: Int? = nil
                    for iy in (2 * oy - 1)...(2 * oy + 1) where iy >= 0 && iy < height {
                        for ix in (2 * ox - 1)...(2 * ox + 1) where ix >= 0 && ix < width {
                            let index = iy * width + ix
                            if best == nil || input[flat: plane * height * width + index] > input[flat: plane * height * width + best!] {
                                best = index
                            }
                        }
                    }
                    let outputIndex = (plane * outputHeight + oy) * outputWidth + ox
                    #expect(cache.argmax[outputIndex] == Int32(best!), "plane \(plane) window (\(oy), \(ox))")
                    #expect(output[flat: outputIndex] == input[flat: plane * height * width + best!])
                }
            }
        }
    }

    @Test("inference pooling (separable, no argmax) gives the window loop's values, NaN included",
          arguments: [(3, 2, 1, 7, 9), (3, 2, 1, 112, 112), (2, 2, 0, 9, 8), (3, 1, 1, 5, 6), (4, 3, 2, 11, 10), (3, 3, 0, 3, 3)])
    func separableMatchesWindows(kernel: Int, stride: Int, padding: Int, height: Int, width: Int) {
        var generator = SeededGenerator(seed: 43)
        var input = Tensor(randomUniform: [2, 3, height, width], in: -3..<3, using: &generator).map { $0.rounded(.down) }
        for flat in Swift.stride(from: 7, to: input.scalarCount, by: 97) { input[flat: flat] = .nan }
        let pool = MaxPool2d(kernelSize: kernel, stride: stride, padding: padding)
        let (expected, _) = pool.forward(input)
        let actual = pool(input)
        #expect(actual.shape == expected.shape)
        let same = zip(actual.scalars, expected.scalars).allSatisfy { $0 == $1 || $0.isNaN && $1.isNaN }
        #expect(same, "kernel \(kernel), stride \(stride), padding \(padding) on \(height)x\(width)")
    }

    @Test("MaxPool2d(3, stride 2, padding 1) input gradient matches central differences")
    func stridedMaxPoolGradientCheck() {
        var generator = SeededGenerator(seed: 41)
        var values = (0..<(2 * 7 * 6)).map { Float($0) * 0.05 }
        generator.shuffle(&values)
        let input = Tensor(shape: [1, 2, 7, 6], scalars: values)
        let pool = MaxPool2d(kernelSize: 3, stride: 2, padding: 1)
        let lossWeights = Tensor(randomNormal: [1, 2, 4, 3], using: &generator)
        let (_, cache) = pool.forward(input)
        GradientChecker().check("input", analytic: pool.backward(lossWeights, cache: cache), at: input) {
            weightedSum(pool($0), lossWeights)
        }
    }

    @Test("AdaptiveAvgPool2d averages PyTorch's windows: 3 → 2 overlaps, 4 → 2 halves, g = H is the identity")
    func adaptiveWindows() {
        let input = Tensor(shape: [1, 1, 3, 3], scalars: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        // Rows and columns 0..<2 and 1..<3 (torch: start ⌊i·3/2⌋, end ⌈(i+1)·3/2⌉).
        #expect(AdaptiveAvgPool2d(outputSize: 2)(input) == Tensor(shape: [1, 1, 2, 2], scalars: [3, 4, 6, 7]))
        #expect(AdaptiveAvgPool2d(outputSize: 1)(input) == Tensor(shape: [1, 1, 1, 1], scalars: [5]))
        #expect(AdaptiveAvgPool2d(outputSize: 3)(input) == input)
        let square = Tensor(shape: [1, 1, 4, 4], scalars: (0..<16).map(Float.init))
        #expect(AdaptiveAvgPool2d(outputSize: 2)(square) == Tensor(shape: [1, 1, 2, 2], scalars: [2.5, 4.5, 10.5, 12.5]))
    }

    @Test("AdaptiveAvgPool2d input gradient matches central differences", arguments: [(5, 3), (7, 2), (4, 4)])
    func adaptiveGradientCheck(side: Int, grid: Int) {
        var generator = SeededGenerator(seed: 42)
        let input = Tensor(randomNormal: [2, 3, side, side], using: &generator)
        let lossWeights = Tensor(randomNormal: [2, 3, grid, grid], using: &generator)
        let pool = AdaptiveAvgPool2d(outputSize: grid)
        GradientChecker().check("input", analytic: pool.backward(lossWeights, inputShape: input.shape), at: input) {
            weightedSum(pool($0), lossWeights)
        }
    }
}
