import Foundation
import GlimpseLayers
import GlimpseModel
import GlimpseTensor

/// One training step of the default model (S 128, stages [32, 64, 128, 256], E 128,
/// A 128, H 256, V 2000) on 32 images with one caption each of 8 to 16 words, and how
/// much of it the encoder takes; then greedy captioning throughput.
func benchmarkModel(options: Options, generator: inout SeededGenerator) {
    let configuration = try! ModelConfiguration(vocabularySize: 2000)
    let imageCount = options.quick ? 8 : 32
    var model = CaptioningModel(configuration: configuration, using: &generator)
    let images = Tensor(randomNormal: [imageCount, 3, 128, 128], using: &generator)
    let captions = (0..<imageCount).map { index in
        CaptionBatch.Caption(imageIndex: index, tokens: (0..<(8 + generator.nextIndex(below: 9))).map { _ in
            Int32(4 + generator.nextIndex(below: 1996))
        })
    }
    let batch = CaptionBatch(images: images, captions: captions)
    var stepGenerator = SeededGenerator(seed: 2)
    let repeats = max(1, options.repeats / 2)

    // The configuration the project trains: every image with five captions, through
    // Trainer.step (forward, backward, clipping, Adam).
    let fiveCaptions = (0..<(5 * imageCount)).map { index in
        CaptionBatch.Caption(imageIndex: index / 5, tokens: (0..<(8 + generator.nextIndex(below: 9))).map { _ in
            Int32(4 + generator.nextIndex(below: 1996))
        })
    }
    let trainingBatch = CaptionBatch(images: images, captions: fiveCaptions)
    var trainer = Trainer(model: model, optimizer: Adam(learningRate: 1e-4))
    let step = medianCost(repeats: max(3, repeats)) { _ = trainer.step(trainingBatch, using: &stepGenerator) }
    print("")
    print(String(format: "Trainer.step, %d images x 5 captions (%d tokens): %.0f ms wall (%.1f images/s), "
                    + "%.0f ms CPU (%.1f images per CPU-second), %d minor page faults",
                 imageCount, trainingBatch.tokenCount, step.wall * 1000, Double(imageCount) / step.wall,
                 step.cpu * 1000, Double(imageCount) / step.cpu, step.minorFaults))
    if options.compareSwiftThreads {
        // Alternate the two settings step by step, so both see the same machine; the
        // fastest step of each is the figure least disturbed by other processes.
        let settings = [1, 2]
        var costs: [Int: [Cost]] = [:]
        for _ in 0..<max(3, options.repeats) {
            for setting in settings {
                Parallel.threadCount = setting
                costs[setting, default: []].append(Cost.measure { _ = trainer.step(trainingBatch, using: &stepGenerator) })
            }
        }
        Parallel.threadCount = options.swiftThreads
        for setting in settings {
            let walls = costs[setting]!.map(\.wall).sorted(), cpus = costs[setting]!.map(\.cpu).sorted()
            print(String(format: "  interleaved, %d Swift thread(s)%@: fastest %.0f ms wall (%.1f images/s), median %.0f ms wall, "
                            + "median %.0f ms CPU",
                         setting, setting == 1 ? " (convolutions on the BLAS threads)" : "", walls[0] * 1000,
                         Double(imageCount) / walls[0], walls[walls.count / 2] * 1000, cpus[cpus.count / 2] * 1000))
        }
    }
    let whole = medianSeconds(repeats: repeats) {
        _ = model.lossAndGradients(for: batch, mode: .training, using: &stepGenerator)
    }
    var encoder = model.encoder
    var encoderGradients = encoder.zeroGradients()
    let encoderOnly = medianSeconds(repeats: repeats) {
        let (features, cache) = encoder.forward(images, mode: .training)
        // As in training: every parameter's gradient, none for the images.
        encoder.backwardParameters(features, cache: cache, into: &encoderGradients)
    }
    print("")
    // The two medians come from separate runs; on a shared VM (page faults, a busy core)
    // their ratio is only a rough guide to the encoder's share.
    print(String(format: "training step, default model, %d images x 1 caption (%d tokens): %.0f ms (%.1f images/s); "
                    + "the encoder's forward+backward alone: %.0f ms",
                 imageCount, batch.tokenCount, whole * 1000, Double(imageCount) / whole, encoderOnly * 1000))
    let greedy = medianSeconds(repeats: repeats) {
        let encoded = model.encode(images)
        var state = encoded.initialState()
        var tokens = [Int32](repeating: 1, count: imageCount)
        for _ in 0..<16 {
            let output = model.decodeStep(tokens: tokens, state: state)
            for row in 0..<imageCount {
                var best = 0
                for index in 0..<configuration.vocabularySize
                where output.logProbabilities[row, index] > output.logProbabilities[row, best] { best = index }
                tokens[row] = Int32(best)
            }
            state = output.state
        }
    }
    print(String(format: "greedy captioning, 16 steps, batch %d: %.0f ms (%.1f images/s)",
                 imageCount, greedy * 1000, Double(imageCount) / greedy))
}
