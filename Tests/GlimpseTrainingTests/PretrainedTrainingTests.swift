import Foundation
import GlimpseData
import GlimpseImage
import GlimpseModel
import GlimpseSafeTensors
import GlimpseTensor
import Testing
@testable import GlimpseTraining

/// `glimpse train --encoder`: a frozen ResNet's features computed once into the feature
/// cache, the decoder trained from them, the encoder carried in every checkpoint.
@Suite("Training on a pretrained encoder's cached features")
struct PretrainedTrainingTests {
    /// A ResNet-18 encoder file with random weights (the real shapes and names).
    static func encoderFile(in scratch: Scratch) throws -> (path: String, encoder: ResNetEncoder) {
        var generator = SeededGenerator(seed: 80)
        let encoder = ResNetEncoder(architecture: .resnet18, gridSize: 2, using: &generator)
        let path = scratch.path + "/encoder.safetensors"
        try ResNetWeights.write(encoder, to: path)
        return (path, encoder)
    }

    static func options(encoder: String, epochs: Int) -> TrainingOptions {
        var options = tinyOptions(epochs: epochs)
        options.encoder = encoder
        options.gridSize = 2
        options.imageSize = 64
        return options
    }

    @Test("features are computed once, reused by the next run, and the decoder learns from them; best carries the encoder")
    func trainsFromTheFeatureCache() throws {
        let scratch = try Scratch()
        let dataset = try syntheticDataset(in: scratch)
        let (path, encoder) = try Self.encoderFile(in: scratch)
        var options = Self.options(encoder: path, epochs: 4)
        options.cacheDirectory = scratch.path + "/cache"
        var reports: [(decoded: Int, reused: Int)] = []
        let first = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/run", options: options)
        #expect(try first.run(events: { event in
            if case .cached(let decoded, let reused, _) = event { reports.append((decoded, reused)) }
        }) == .completed(epochs: 4))
        let cached = try FileManager.default.contentsOfDirectory(atPath: scratch.path + "/cache")
        #expect(cached.contains { $0.hasPrefix("features-resnet18-g2-64-\(ResNetWeights.digest(encoder))-") && $0.hasSuffix(".bin") })
        #expect(!cached.contains { $0.hasPrefix("pixels-") }, "\(cached)")

        let (epoch1, epoch4) = (try meanCrossEntropy(first.layout.log, epoch: 1), try meanCrossEntropy(first.layout.log, epoch: 4))
        #expect(epoch4 < 0.93 * epoch1, "cross-entropy \(epoch1) → \(epoch4)")

        // best.safetensors is the whole model: its encoder gives the cached features.
        let best = try Checkpoint(contentsOf: first.layout.best)
        #expect(best.model.configuration.pretrainedEncoder?.digest == ResNetWeights.digest(encoder))
        #expect(best.preprocessing == Preprocessing(imageSize: 64, resizeShortSide: 73))
        let image = try #require(dataset.images(in: .train).first)
        let cache = try FeatureCache(directory: scratch.path + "/cache", model: best.model, preprocessing: best.preprocessing)
        let stored = try #require(cache.features(for: image.path))
        let decoded = try ImageDecoder().decode(contentsOf: image.path).image
        let features = best.model.features(of: Tensor(shape: [1, 3, 64, 64], scalars: best.preprocessing(decoded)))
        // Equal up to float rounding: the cache encoded this image in a batch of 16, here it is alone.
        let largest = features.scalars.map(abs).max() ?? 0
        let difference = zip(features.scalars, stored).map { abs($0 - $1) }.max() ?? .infinity
        #expect(features.scalarCount == stored.count && difference <= 1e-5 * largest, "max difference \(difference) of \(largest)")

        let second = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/run2", options: Self.options(encoder: path, epochs: 1)
            .with { $0.cacheDirectory = scratch.path + "/cache" })
        _ = try second.run(events: { event in
            if case .cached(let decoded, let reused, _) = event { reports.append((decoded, reused)) }
        })
        #expect(reports.count == 2 && reports[0].decoded > 0 && reports[1].decoded == 0 && reports[1].reused == reports[0].decoded)
    }

    @Test("stopped part way and resumed, a run on cached features ends bit-identical to an uninterrupted one")
    func resumeIsExact() throws {
        let scratch = try Scratch()
        let dataset = try syntheticDataset(in: scratch)
        let (path, _) = try Self.encoderFile(in: scratch)
        let options = Self.options(encoder: path, epochs: 2)
        let straight = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/straight", options: options)
        #expect(try straight.run() == .completed(epochs: 2))
        let first = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/resumed", options: options.with { $0.maximumSteps = 3 })
        #expect(try first.run() == .stepLimitReached(step: 3))
        let second = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/resumed", options: options, resume: true)
        #expect(try second.run() == .completed(epochs: 2))
        #expect(bytes(second.layout.last) == bytes(straight.layout.last), "last.safetensors differs")
        #expect(bytes(second.layout.best) == bytes(straight.layout.best), "best.safetensors differs")
    }

    @Test("a torchvision state dict given as --encoder is refused with the way to convert it")
    func stateDictRefused() throws {
        let scratch = try Scratch()
        let dataset = try syntheticDataset(in: scratch, count: 10)
        let path = scratch.path + "/resnet18.safetensors"
        var tensors: [String: ShapedArray<Float>] = [:]
        for layer in ResNetArchitecture.resnet18.convolutions {
            tensors[layer.name + ".weight"] = ShapedArray(shape: layer.weightShape,
                                                          values: [Float](repeating: 0, count: layer.weightShape.reduce(1, *)))
        }
        try SafeTensorsWriter.write(tensors, to: path)
        let run = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/run", options: Self.options(encoder: path, epochs: 1))
        #expect {
            try run.run()
        } throws: { error in
            "\(error)".contains("a torchvision state dict; turn it into an encoder file with glimpse import-encoder first")
        }
    }
}

extension TrainingOptions {
    /// A copy with `change` applied.
    func with(_ change: (inout TrainingOptions) -> Void) -> TrainingOptions {
        var copy = self
        change(&copy)
        return copy
    }
}
