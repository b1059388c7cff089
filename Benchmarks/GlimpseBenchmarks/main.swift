// Glimpse's performance figures, measured in one run, in release mode:
//
//     swift run -c release glimpse-benchmarks [--threads N] [--repeats N] [--quick] [--conv-only]
//
// Every throughput is also printed as a ratio to this machine's own sgemm peak,
// measured in the same run, so figures from different machines, or from a busy
// machine, stay comparable. The peak is the better of two medians of 1024 x 1024 x 1024
// float32 products: (a) one product on the OpenBLAS threads, and (b) one product per
// Parallel worker at the same time, each on one BLAS thread (the way the convolutions
// run). Both use the kernels OpenBLAS runs with in this process (chosen from the CPU's
// features, see BLAS.selectKernels); the line printed says which one won. Run with
// GLIMPSE_BLAS_KERNELS=Cooperlake (or openblas) too: if that peak is higher, it is the honest one.
import Foundation
import GlimpseLayers
import GlimpseTensor

struct Options {
    var threads = 2
    /// Parallel.threadCount: workers for the Swift-level loops and the convolutions'
    /// image groups (1: the convolutions use the BLAS threads instead).
    var swiftThreads = 2
    var repeats = 5
    var quick = false
    /// Skip the sgemm/convolution/decoder-step sections (profiling the model alone).
    var modelOnly = false
    /// Only the sgemm peak and the convolution table.
    var convOnly = false
    /// Trainer.step with Parallel.threadCount 1 and 2, interleaved step by step (an A/B
    /// that a busy machine affects alike).
    var compareSwiftThreads = false
    /// `--side-by-side MODE ...`: one measurement for Scripts/side_by_side.py (see SideBySide.swift);
    /// every argument after it belongs to that mode.
    var sideBySide: [String]? = nil

    init(_ arguments: [String]) {
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            func value() -> Int {
                index += 1
                guard index < arguments.count, let number = Int(arguments[index]), number > 0 else {
                    print("glimpse-benchmarks: \(argument) needs a positive whole number")
                    exit(2)
                }
                return number
            }
            switch argument {
            case "--threads": threads = value()
            case "--swift-threads": swiftThreads = value()
            case "--repeats": repeats = value()
            case "--quick": quick = true
            case "--model-only": modelOnly = true
            case "--conv-only": convOnly = true
            case "--compare-swift-threads": compareSwiftThreads = true
            case "--side-by-side":
                sideBySide = Array(arguments[(index + 1)...])
                index = arguments.count
                continue
            case "--help", "-h":
                print("usage: glimpse-benchmarks [--threads N] [--swift-threads N] [--repeats N] [--quick] [--model-only] [--conv-only] [--compare-swift-threads]\n"
                      + "       glimpse-benchmarks [--threads N] [--swift-threads N] --side-by-side train|latency ... (SideBySide.swift)")
                exit(0)
            default:
                print("glimpse-benchmarks: unknown argument \(argument)")
                exit(2)
            }
            index += 1
        }
    }
}

/// Wall time, CPU time of the whole process (all threads) and minor page faults of one run.
struct Cost {
    var wall: Double, cpu: Double, minorFaults: Int

    static func measure(_ body: () -> Void) -> Cost {
        func now() -> (wall: Double, cpu: Double, faults: Int) {
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
                + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6
            return (Double(DispatchTime.now().uptimeNanoseconds) * 1e-9, cpu, usage.ru_minflt)
        }
        let start = now()
        body()
        let end = now()
        return Cost(wall: end.wall - start.wall, cpu: end.cpu - start.cpu, minorFaults: end.faults - start.faults)
    }
}

/// Median wall time, median CPU time and median minor faults of `repeats` runs of `body`,
/// after one warm-up run. On a shared machine the CPU time is the steadier figure:
/// waiting for a core counts in wall time only.
func medianCost(repeats: Int, _ body: () -> Void) -> Cost {
    body()
    let costs = (0..<repeats).map { _ in Cost.measure(body) }
    func median<T: Comparable>(_ values: [T]) -> T { values.sorted()[values.count / 2] }
    return Cost(wall: median(costs.map(\.wall)), cpu: median(costs.map(\.cpu)),
                minorFaults: median(costs.map(\.minorFaults)))
}

/// Median wall time of `repeats` runs of `body`, after one warm-up run.
func medianSeconds(repeats: Int, _ body: () -> Void) -> Double {
    body()
    var times: [Double] = []
    for _ in 0..<repeats {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
    }
    times.sort()
    return times[times.count / 2]
}

/// Lets the peak measurement's workers write their own product (distinct indices only).
struct UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}

// Before any other work: OpenBLAS's kernels from the CPU's features (BLAS.selectKernels;
// compare others with GLIMPSE_BLAS_KERNELS=Cooperlake, =Haswell, =openblas, ...).
BLAS.selectKernels()
let options = Options(Array(CommandLine.arguments.dropFirst()))
BLAS.threadCount = options.threads
Parallel.threadCount = options.swiftThreads
var generator = SeededGenerator(seed: 1)
let environment = ProcessInfo.processInfo.environment
print("Glimpse benchmarks: \(options.threads) OpenBLAS thread(s), "
      + "\(options.swiftThreads) Swift thread(s), median of \(options.repeats) runs")
print("CPU: \(CPUInfo.current.summary)")
print("OpenBLAS \(BLAS.kernelReport)")
if let sideBySide = options.sideBySide {
    // As the glimpse tool runs (--threads N): N Swift workers on single-threaded OpenBLAS.
    Parallel.use(cores: options.swiftThreads)
    print("side by side: \(Parallel.threadCount) cores as glimpse uses them (Parallel.use(cores:)): "
          + "\(Parallel.threadCount) Swift workers, \(BLAS.threadCount) OpenBLAS thread")
    runSideBySide(sideBySide)
    exit(0)
}

if !options.modelOnly {
// MARK: sgemm peak

let peakMeasure = SgemmPeak(repeats: options.repeats, threads: options.threads, workers: options.swiftThreads)
let (blasThreadsPeak, workersPeak, peak) = (peakMeasure.blasThreads, peakMeasure.workers, peakMeasure.peak)
print(String(format: "sgemm 1024x1024x1024: %.1f GFLOP/s on %d OpenBLAS thread(s), %.1f GFLOP/s as %d concurrent "
             + "1-thread products", blasThreadsPeak, options.threads, workersPeak, peakMeasure.workerCount))
print(String(format: "peak: %.1f GFLOP/s (%@), the figure every ratio below refers to", peak,
             blasThreadsPeak >= workersPeak ? "OpenBLAS threads won" : "concurrent 1-thread products won"))

// MARK: Convolutions at the default model's shapes

struct ConvShape { let input: Int, output: Int, side: Int }
let batch = options.quick ? 8 : 32
let shapes = [ConvShape(input: 3, output: 32, side: 128), ConvShape(input: 32, output: 32, side: 128),
              ConvShape(input: 32, output: 64, side: 64), ConvShape(input: 64, output: 64, side: 64),
              ConvShape(input: 64, output: 128, side: 32), ConvShape(input: 128, output: 128, side: 32),
              ConvShape(input: 128, output: 256, side: 16), ConvShape(input: 256, output: 256, side: 16)]
print("")
print("Conv2d 3x3, stride 1, padding 1, batch \(batch):")
print(pad("shape", 22) + pad("forward GFLOP/s", 20) + pad("ratio", 8) + pad("backward GFLOP/s", 20) + "ratio")
var totalForwardFlops = 0.0, totalForwardSeconds = 0.0, totalBackwardFlops = 0.0, totalBackwardSeconds = 0.0
for shape in shapes {
    let conv = Conv2d(inputChannels: shape.input, outputChannels: shape.output, using: &generator)
    let input = Tensor(randomUniform: [batch, shape.input, shape.side, shape.side], in: -1..<1, using: &generator)
    let upstream = Tensor(randomUniform: [batch, shape.output, shape.side, shape.side], in: -1..<1, using: &generator)
    let flops = 2.0 * Double(batch * shape.output * shape.input * 9 * shape.side * shape.side)
    let forwardSeconds = medianSeconds(repeats: options.repeats) { _ = conv(input) }
    let cache = conv.forward(input).cache
    var gradients = conv.zeroGradients()
    // Backward computes the weight gradient and the input gradient: twice the forward
    // work. The first layer's input is the image, which needs no gradient: the model
    // runs the weight gradient alone there, and so is it measured.
    let firstLayer = shape.input == 3
    let backwardFlops = firstLayer ? flops : 2 * flops
    let backwardSeconds = medianSeconds(repeats: options.repeats) {
        if firstLayer {
            conv.backwardWeights(upstream, cache: cache, into: &gradients)
        } else {
            _ = conv.backward(upstream, cache: cache, into: &gradients)
        }
    }
    let forward = flops / forwardSeconds / 1e9, backward = backwardFlops / backwardSeconds / 1e9
    totalForwardFlops += flops
    totalForwardSeconds += forwardSeconds
    totalBackwardFlops += backwardFlops
    totalBackwardSeconds += backwardSeconds
    print(pad("\(shape.input)->\(shape.output) at \(shape.side)x\(shape.side)" + (firstLayer ? "*" : ""), 22)
          + pad(String(format: "%.1f", forward), 20) + pad(String(format: "%.2f", forward / peak), 8)
          + pad(String(format: "%.1f", backward), 20) + String(format: "%.2f", backward / peak))
    if firstLayer {
        // The same layer through im2col + sgemm (the path before the direct kernels), for an A/B in one run.
        Conv2d.directKernelsEnabled = false
        let columnsForward = flops / medianSeconds(repeats: options.repeats) { _ = conv(input) } / 1e9
        let columnsBackward = backwardFlops / medianSeconds(repeats: options.repeats) {
            conv.backwardWeights(upstream, cache: cache, into: &gradients)
        } / 1e9
        Conv2d.directKernelsEnabled = true
        print(pad("  (im2col + sgemm)", 22)
              + pad(String(format: "%.1f", columnsForward), 20) + pad(String(format: "%.2f", columnsForward / peak), 8)
              + pad(String(format: "%.1f", columnsBackward), 20) + String(format: "%.2f", columnsBackward / peak))
    }
}
let forwardAll = totalForwardFlops / totalForwardSeconds / 1e9
let backwardAll = totalBackwardFlops / totalBackwardSeconds / 1e9
print(pad("all eight (time-weighted)", 22) + pad(String(format: "%.1f", forwardAll), 20)
      + pad(String(format: "%.2f", forwardAll / peak), 8) + pad(String(format: "%.1f", backwardAll), 20)
      + String(format: "%.2f", backwardAll / peak))
print("* weight gradient only: the image needs no gradient, and the model does not compute one")
print(String(format: "encoder convolutions per batch of %d: forward %.0f ms, backward %.0f ms",
             batch, totalForwardSeconds * 1000, totalBackwardSeconds * 1000))
if options.convOnly { exit(0) }

// MARK: One decoder step: attention + LSTM

let (stepBatch, locations, featureSize, embeddingSize, attentionSize, hiddenSize) = (32, 64, 256, 128, 128, 256)
let attention = SoftAttention(featureSize: featureSize, hiddenSize: hiddenSize, attentionSize: attentionSize,
                              using: &generator)
let cell = LSTMCell(inputSize: embeddingSize + featureSize, hiddenSize: hiddenSize, using: &generator)
let features = Tensor(randomUniform: [stepBatch, locations, featureSize], in: -1..<1, using: &generator)
let projected = attention.projectFeatures(features)
let state = LSTMCell.State(hidden: Tensor(randomUniform: [stepBatch, hiddenSize], in: -1..<1, using: &generator),
                           cell: Tensor(randomUniform: [stepBatch, hiddenSize], in: -1..<1, using: &generator))
let embedded = Tensor(randomUniform: [stepBatch, embeddingSize], in: -1..<1, using: &generator)
let stepRepeats = max(options.repeats, 20)

func stepForward() -> (SoftAttention.Cache, LSTMCell.Cache, LSTMCell.State) {
    let (output, attentionCache) = attention.forward(features: features, projectedFeatures: projected, hidden: state.hidden)
    let input = Tensor.concatenatingColumns([embedded, output.context])
    let (next, cellCache) = cell.forward(input, state: state)
    return (attentionCache, cellCache, next)
}
let forwardStep = medianSeconds(repeats: stepRepeats) { _ = stepForward() }
var attentionGradients = attention.zeroGradients()
var cellGradients = cell.zeroGradients()
var featureGradients = attention.zeroFeatureGradients(for: attention.forwardProjection(features).cache)
let trainingStep = medianSeconds(repeats: stepRepeats) {
    let (attentionCache, cellCache, next) = stepForward()
    // Backward from a unit gradient on the new state.
    let upstream = LSTMCell.State(hidden: next.hidden, cell: next.cell)
    let (inputGradient, _) = cell.backward(upstream, cache: cellCache, into: &cellGradients)
    let contextGradient = inputGradient.columns(embeddingSize..<(embeddingSize + featureSize))
    _ = attention.backward(contextGradient, cache: attentionCache, into: &attentionGradients,
                           accumulatingInto: &featureGradients)
}
print("")
print(String(format: "attention + LSTM step (B=%d P=%d D=%d E=%d A=%d H=%d): forward %.0f us, forward + backward %.0f us",
             stepBatch, locations, featureSize, embeddingSize, attentionSize, hiddenSize,
             forwardStep * 1e6, trainingStep * 1e6))
// The step's multiply-adds, counted from its products: decoder_att (H·A), full_att (P·A),
// the weighted sum (P·D), f_beta (H·D) and the LSTM's two products ((E+D)·4H and H·4H),
// per row; backward does about twice the forward work. Small products: this step is
// far from sgemm's peak by nature, and the ratio says how far.
let stepForwardFlops = 2.0 * Double(stepBatch) * Double(hiddenSize * attentionSize + locations * attentionSize
    + locations * featureSize + hiddenSize * featureSize
    + (embeddingSize + featureSize) * 4 * hiddenSize + hiddenSize * 4 * hiddenSize)
let stepForwardRate = stepForwardFlops / forwardStep / 1e9
let stepTrainingRate = 3 * stepForwardFlops / trainingStep / 1e9
print(String(format: "  about %.0f MFLOP forward: %.1f GFLOP/s (%.2f of the peak); forward + backward %.1f GFLOP/s (%.2f)",
             stepForwardFlops / 1e6, stepForwardRate, stepForwardRate / peak, stepTrainingRate, stepTrainingRate / peak))

}

// MARK: The whole model (GlimpseModel)

benchmarkModel(options: options, generator: &generator)
