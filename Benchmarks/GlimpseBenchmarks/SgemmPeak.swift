import Foundation
import GlimpseTensor

/// This machine's sgemm peak, the figure every ratio refers to: the better of the medians of
/// (a) one 1024 × 1024 × 1024 product on `threads` OpenBLAS threads and (b) one single-threaded
/// product per Swift worker (`workers`), all at once. OpenBLAS's thread count is restored after.
struct SgemmPeak {
    let blasThreads: Double
    let workers: Double
    let threads: Int
    let workerCount: Int
    var peak: Double { max(blasThreads, workers) }

    init(repeats: Int, threads: Int, workers: Int) {
        var generator = SeededGenerator(seed: 1)
        let size = 1024
        let left = Tensor(randomUniform: [size, size], in: -1..<1, using: &generator)
        let right = Tensor(randomUniform: [size, size], in: -1..<1, using: &generator)
        var product = Tensor(zeros: [size, size])
        let flops = 2 * pow(Double(size), 3)
        let savedThreads = BLAS.threadCount
        BLAS.threadCount = threads
        let gemmSeconds = medianSeconds(repeats: repeats) { product.addMatmul(left, right, beta: 0) }
        BLAS.threadCount = savedThreads
        var products = (0..<max(1, workers)).map { _ in Tensor(zeros: [size, size]) }
        let concurrentSeconds = medianSeconds(repeats: repeats) {
            products.withUnsafeMutableBufferPointer { products in
                let base = UncheckedBox(products.baseAddress!)
                BLAS.singleThreaded {
                    Parallel.forEach(max(1, workers)) { worker in base.value[worker].addMatmul(left, right, beta: 0) }
                }
            }
        }
        blasThreads = flops / gemmSeconds / 1e9
        self.workers = Double(max(1, workers)) * flops / concurrentSeconds / 1e9
        self.threads = threads
        workerCount = max(1, workers)
    }

    var summary: String {
        String(format: "sgemm 1024x1024x1024: %.1f GFLOP/s on %d OpenBLAS thread(s), %.1f GFLOP/s as %d concurrent "
                + "1-thread products; peak %.1f GFLOP/s", blasThreads, threads, workers, workerCount, peak)
    }
}
