import Foundation
import GlimpseCaptioning
import GlimpseData
import GlimpseImage
import GlimpseModel
import GlimpseSupport
import GlimpseTensor
import Testing
@testable import GlimpseTraining

/// `glimpse train --encoder E --fine-tune-from-stage S [--augment]`: the frozen stages' output
/// cached once (or, with augmentation, computed per batch), the last stages trained with the
/// decoder at their own rate, and the trained stages carried in every checkpoint.
@Suite("Fine-tuning a pretrained encoder's last stages in a run")
struct FineTuningTrainingTests {
    static func options(encoder: String, epochs: Int, stage: Int = 4) -> TrainingOptions {
        PretrainedTrainingTests.options(encoder: encoder, epochs: epochs).with {
            $0.fineTuneFromStage = stage
            $0.encoderLearningRate = 1e-3
        }
    }

    @Test("the frozen stages' output is cached, the last stage trains with the decoder, and best captions with it")
    func trainsTheLastStage() throws {
        let scratch = try Scratch()
        let dataset = try syntheticDataset(in: scratch)
        let (path, encoder) = try PretrainedTrainingTests.encoderFile(in: scratch)
        var options = Self.options(encoder: path, epochs: 4)
        options.cacheDirectory = scratch.path + "/cache"
        let run = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/run", options: options)
        #expect(try run.run() == .completed(epochs: 4))
        let cached = try FileManager.default.contentsOfDirectory(atPath: scratch.path + "/cache")
        let digest = ResNetWeights.digest(encoder, frozenBefore: 4)
        #expect(cached.contains { $0.hasPrefix("layer4input-resnet18-64-\(digest)-") && $0.hasSuffix(".bin") }, "\(cached)")
        #expect(!cached.contains { $0.hasPrefix("features-") || $0.hasPrefix("pixels-") }, "\(cached)")

        let (epoch1, epoch4) = (try meanCrossEntropy(run.layout.log, epoch: 1), try meanCrossEntropy(run.layout.log, epoch: 4))
        #expect(epoch4 < 0.93 * epoch1, "cross-entropy \(epoch1) → \(epoch4)")

        let best = try Checkpoint(contentsOf: run.layout.best)
        #expect(best.model.configuration.pretrainedEncoder == .init(architecture: .resnet18, gridSize: 2, digest: digest,
                                                                     trainableFromStage: 4))
        // layer4 moved; layer3 and everything before it did not.
        let trained = try #require(best.model.pretrainedEncoder)
        let before = ResNetArchitecture.resnet18.convolutionCount(before: 4)
        for (index, (now, then)) in zip(trained.convolutions, encoder.convolutions).enumerated() {
            if index < before {
                #expect(now.weight == then.weight && now.bias == then.bias, "\(ResNetArchitecture.resnet18.convolutions[index].name)")
            } else {
                #expect(now.weight != then.weight, "\(ResNetArchitecture.resnet18.convolutions[index].name) trained")
            }
        }
        let image = try #require(dataset.images(in: .validation).first)
        let input = best.preprocessing(try ImageDecoder().decode(contentsOf: image.path).image)
        let results = Captioner(checkpoint: best).caption([input], options: DecodingOptions())
        #expect(results.count == 1 && results[0].best.tokens.count > 0)
    }

    @Test("the usual recipe: a decoder trained on the frozen encoder, then --init it with its last stage training")
    func fineTunesAFrozenRun() throws {
        let scratch = try Scratch()
        let dataset = try syntheticDataset(in: scratch)
        let (path, encoder) = try PretrainedTrainingTests.encoderFile(in: scratch)
        let frozen = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/frozen",
                                 options: PretrainedTrainingTests.options(encoder: path, epochs: 1))
        #expect(try frozen.run() == .completed(epochs: 1))
        var options = tinyOptions(epochs: 1)
        options.initialModel = frozen.layout.best
        options.fineTuneFromStage = 4
        let tuned = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/tuned", options: options)
        #expect(try tuned.run() == .completed(epochs: 1))
        let best = try Checkpoint(contentsOf: tuned.layout.best)
        #expect(best.model.configuration.pretrainedEncoder?.trainableFromStage == 4)
        #expect(best.model.configuration.pretrainedEncoder?.digest == ResNetWeights.digest(encoder, frozenBefore: 4))
        let layer4 = ResNetArchitecture.resnet18.convolutionCount(before: 4)
        #expect(best.model.pretrainedEncoder!.convolutions[layer4].weight != encoder.convolutions[layer4].weight)
        #expect(best.model.pretrainedEncoder!.convolutions[layer4 - 1].weight == encoder.convolutions[layer4 - 1].weight)

        // Self-critical training keeps the encoder frozen: a model whose stages train is refused.
        var selfCritical = tinyOptions(epochs: 1)
        selfCritical.initialModel = tuned.layout.best
        selfCritical.selfCritical = true
        #expect {
            try TrainingRun(dataset: dataset, runDirectory: scratch.path + "/scst", options: selfCritical).run()
        } throws: { error in
            "\(error)".contains("self-critical training keeps the encoder frozen, and this model's last stages train")
        }

        // A model of the small CNN has no such stages.
        let small = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/small", options: tinyOptions(epochs: 1))
        #expect(try small.run() == .completed(epochs: 1))
        options.initialModel = small.layout.best
        #expect {
            try TrainingRun(dataset: dataset, runDirectory: scratch.path + "/small-tuned", options: options).run()
        } throws: { error in
            "\(error)".contains("has no pretrained encoder whose stages could train")
        }
    }

    @Test("with augmentation, batches are random crops and flips of the cached pixels, the same on every resume")
    func augmentedResumeIsExact() throws {
        let scratch = try Scratch()
        let dataset = try syntheticDataset(in: scratch)
        let (path, _) = try PretrainedTrainingTests.encoderFile(in: scratch)
        let options = Self.options(encoder: path, epochs: 2).with { $0.augment = true }
        let straight = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/straight", options: options)
        #expect(try straight.run() == .completed(epochs: 2))
        let cached = try FileManager.default.contentsOfDirectory(atPath: straight.layout.defaultCache)
        #expect(cached.contains { $0.hasPrefix("pixels-72-crop-73") }, "the cache holds the 72 × 72 centre: \(cached)")
        let best = try Checkpoint(contentsOf: straight.layout.best)
        #expect(best.preprocessing == Preprocessing(imageSize: 64, resizeShortSide: 73), "captioning crops the centre 64")

        let first = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/resumed", options: options.with { $0.maximumSteps = 3 })
        #expect(try first.run() == .stepLimitReached(step: 3))
        let second = TrainingRun(dataset: dataset, runDirectory: scratch.path + "/resumed", options: options, resume: true)
        #expect(try second.run() == .completed(epochs: 2))
        #expect(bytes(second.layout.last) == bytes(straight.layout.last), "last.safetensors differs")
        #expect(bytes(second.layout.best) == bytes(straight.layout.best), "best.safetensors differs")
    }

    @Test("crops: a seed draws an origin in 0 … R − S and a flip per image; no seed is the centre, as captioning crops it")
    func crops() {
        let (side, size) = (9, 4)
        let pixels = (0..<(side * side * 3)).map { UInt8($0 % 251) }
        let preprocessing = Preprocessing(imageSize: size, mean: [0, 0, 0], std: [1, 1, 1])
        let augmentation = Augmentation(preprocessing: preprocessing, seed: 7)
        func value(_ tensor: Tensor, image: Int, channel: Int, row: Int, column: Int) -> UInt8 {
            UInt8((tensor[flat: ((image * 3 + channel) * size + row) * size + column] * 255).rounded())
        }
        func source(row: Int, column: Int, channel: Int) -> UInt8 { pixels[(row * side + column) * 3 + channel] }
        pixels.withUnsafeBufferPointer { buffer in
            let centre = augmentation.crops([buffer], side: side, seed: nil)
            // (9 − 4)/2 = 2.5 rounds half to even: 2, as Preprocessing's centre crop.
            #expect(value(centre, image: 0, channel: 1, row: 0, column: 0) == source(row: 2, column: 2, channel: 1))
            var seen = Set<[Int]>()
            for batch in 0..<40 {
                let seed = augmentation.batchSeed(epoch: 1, batchIndex: batch)
                #expect(augmentation.crops([buffer], side: side, seed: seed) == augmentation.crops([buffer], side: side, seed: seed))
                var random = SplitMix64(seed: seed)
                let (left, top, flipped) = (Int(random.next() % 6), Int(random.next() % 6), random.next() & 1 == 1)
                seen.insert([left, top, flipped ? 1 : 0])
                let crop = augmentation.crops([buffer], side: side, seed: seed)
                for row in 0..<size {
                    for column in 0..<size {
                        let from = flipped ? size - 1 - column : column
                        #expect(value(crop, image: 0, channel: 2, row: row, column: column)
                                    == source(row: top + row, column: left + from, channel: 2))
                    }
                }
            }
            #expect(seen.count > 20, "40 batches drew only \(seen.count) distinct crops")
            // A rank's share of a batch (images 1 and 3 of 4) is cropped as those images of the whole batch.
            let seed = augmentation.batchSeed(epoch: 3, batchIndex: 5)
            let whole = augmentation.crops([buffer, buffer, buffer, buffer], side: side, seed: seed)
            let share = augmentation.crops([buffer, buffer], side: side, seed: seed, positions: [1, 3])
            let plane = 3 * size * size
            #expect(share.scalars == Array(whole.scalars[plane..<2 * plane] + whole.scalars[3 * plane..<4 * plane]))
            #expect(augmentation.batchSeed(epoch: 1, batchIndex: 0) != augmentation.batchSeed(epoch: 2, batchIndex: 0))
        }
    }

    @Test("validation's centre crop of the cached pixels is the model's own input, for odd and even margins",
          arguments: [(64, 146, 97), (64, 97, 146), (224, 500, 375), (96, 146, 120), (33, 80, 61)])
    func centreCropIsTheModelsInput(side: Int, width: Int, height: Int) {
        var options = tinyOptions()
        options.encoder = "/e.safetensors"
        options.imageSize = side
        let model = options.preprocessing, source = options.augmentationSource
        #expect((source.imageSize - side) % 4 == 0 && source.resizeShortSide == model.resizeShortSide)
        var generator = SeededGenerator(seed: UInt64(width * height))
        let image = RGBImage(width: width, height: height,
                             pixels: (0..<(width * height * 3)).map { _ in UInt8(generator.nextIndex(below: 256)) })
        let cached = source.resized(image).pixels
        let centre = cached.withUnsafeBufferPointer {
            Augmentation(preprocessing: model, seed: 1).crops([$0], side: source.imageSize, seed: nil)
        }
        #expect(centre == Tensor(shape: [1, 3, side, side], scalars: model(image)))
    }

    @Test("options: fine-tuning needs an encoder; augmentation and an encoder rate need fine-tuning; no self-critical")
    func optionProblems() {
        var options = tinyOptions()
        options.fineTuneFromStage = 4
        #expect(options.problem()?.contains("it needs an encoder, or a model with one") == true)
        options = PretrainedTrainingTests.options(encoder: "/e.safetensors", epochs: 1)
        options.augment = true
        #expect(options.problem()?.contains("augmentation changes the images every epoch") == true)
        options.augment = nil
        options.encoderLearningRate = 1e-4
        #expect(options.problem()?.contains("an encoder learning rate needs stages that train") == true)
        options.fineTuneFromStage = 4
        #expect(options.problem() == nil)
        options.encoderLearningRate = -1
        #expect(options.problem()?.contains("encoder learning rate must be positive") == true)
        options.encoderLearningRate = nil
        options.selfCritical = true
        #expect(options.problem()?.contains("self-critical training keeps the encoder frozen") == true)
        options.selfCritical = nil
        options.fineTuneFromStage = 0
        #expect(options.problem()?.contains("stages are 1 to 4") == true)
        var generator = SeededGenerator(seed: 1)
        let encoder = ResNetEncoder(architecture: .resnet18, gridSize: 2, using: &generator)
        func model(_ stage: Int?) -> CaptioningModel {
            let pretrained = ModelConfiguration.PretrainedEncoder(architecture: .resnet18, gridSize: 2, digest: "0", trainableFromStage: stage)
            let configuration = try! Self.options(encoder: "/e", epochs: 1).modelConfiguration(vocabularySize: 9, pretrained: pretrained)
            return CaptioningModel(configuration: configuration, pretrainedEncoder: encoder, using: &generator)
        }
        #expect(Self.options(encoder: "/e", epochs: 1).learningRateScales(for: model(4)) == ["image_encoder.": 1e-3 / 1e-2])
        #expect(Self.options(encoder: "/e", epochs: 1).learningRateScales(for: model(nil)).isEmpty)
    }
}
