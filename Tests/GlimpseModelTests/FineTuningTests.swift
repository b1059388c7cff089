import Foundation
import GlimpseImage
import GlimpseLayers
import GlimpseSafeTensors
import GlimpseTensor
import GlimpseTestSupport
import Testing
@testable import GlimpseModel

/// `--fine-tune-from-stage`: a pretrained ResNet's last stages (`ResNetTail`) train with the
/// decoder, the stages before stay frozen and are cached.
@Suite("Fine-tuning a pretrained encoder's last stages")
struct FineTuningTests {
    static let resnet: ResNetEncoder = {
        var generator = SeededGenerator(seed: 90)
        var encoder = ResNetEncoder(architecture: .resnet18, gridSize: 2, using: &generator)
        // Non-zero biases, as folded BatchNorms give.
        let convolutions = encoder.convolutions.map { layer in
            var layer = layer
            layer.bias = Tensor(shape: layer.bias!.shape, scalars: (0..<layer.outputChannels).map { _ in generator.nextUnitFloat() * 0.2 - 0.1 })
            return layer
        }
        return ResNetEncoder(architecture: .resnet18, gridSize: 2, convolutions: convolutions)
    }()

    static func configuration(stage: Int = 4, positions: Bool = false) -> ModelConfiguration {
        try! ModelConfiguration(vocabularySize: 9, imageSize: 64, stageChannels: [], embeddingSize: 3, attentionSize: 3,
                                hiddenSize: 4, dropout: 0, positionFeatures: positions,
                                pretrainedEncoder: .init(architecture: .resnet18, gridSize: 2,
                                                         digest: ResNetWeights.digest(resnet, frozenBefore: stage),
                                                         trainableFromStage: stage))
    }

    static func model(stage: Int = 4, positions: Bool = false) -> CaptioningModel {
        var generator = SeededGenerator(seed: 91)
        return CaptioningModel(configuration: configuration(stage: stage, positions: positions), pretrainedEncoder: resnet,
                               using: &generator)
    }

    static func images(count: Int, side: Int = 64, seed: UInt64) -> Tensor {
        var generator = SeededGenerator(seed: seed)
        return Tensor(shape: [count, 3, side, side], scalars: (0..<(count * 3 * side * side)).map { _ in generator.nextUnitFloat() * 4 - 2 })
    }

    @Test("the frozen stages' output through the trainable ones gives the whole encoder's features", arguments: [1, 2, 3, 4])
    func tailContinuesTheEncoder(stage: Int) {
        let images = Self.images(count: 2, seed: 92)
        let input = Self.resnet.stageInput(images, stage: stage)
        #expect(Array(input.shape.dropFirst()) == ResNetArchitecture.resnet18.stageInputShape(stage, imageSize: 64))
        let tail = ResNetTail(Self.resnet, fromStage: stage)
        let whole = Self.resnet(images)
        let (trained, _) = tail.forward(input)
        assertClose(tail(input), whole, absoluteTolerance: 1e-5, relativeTolerance: 1e-4)
        assertClose(trained, whole, absoluteTolerance: 1e-5, relativeTolerance: 1e-4)
        #expect(tail.parameterPaths.first?.name == "layer\(stage).0.conv1.weight")
        #expect(tail.parameterPaths.count == 2 * tail.layout.count)
        #expect(zip(tail.parameterPaths.map(\.name), tail.layout.flatMap { [$0.name + ".weight", $0.name + ".bias"] })
            .allSatisfy { $0 == $1 })
    }

    @Test("ResNet-50's Bottleneck stages from their cached input give its features")
    func bottleneckTail() {
        var generator = SeededGenerator(seed: 93)
        let resnet50 = ResNetEncoder(architecture: .resnet50, gridSize: 2, using: &generator)
        let images = Self.images(count: 1, side: 64, seed: 94)
        let tail = ResNetTail(resnet50, fromStage: 4)
        let input = resnet50.stageInput(images, stage: 4)
        #expect(Array(input.shape.dropFirst()) == [1024, 4, 4])
        assertClose(tail.forward(input).features, resnet50(images), absoluteTolerance: 1e-5, relativeTolerance: 1e-4)
    }

    /// Two blocks small enough to check every scalar: a strided Bottleneck-like block with a 1×1
    /// downsample (3 → 4 channels, 7×7 → 4×4), then a BasicBlock with the identity shortcut, pooled
    /// to 3×3 (overlapping windows).
    static func tinyTail() -> ResNetTail {
        var generator = SeededGenerator(seed: 95)
        func layer(_ input: Int, _ output: Int, kernel: Int, stride: Int) -> Conv2d {
            var convolution = Conv2d(inputChannels: input, outputChannels: output, kernelSize: kernel, stride: stride,
                                     padding: kernel / 2, using: &generator)
            convolution.bias = Tensor(shape: [output], scalars: (0..<output).map { _ in generator.nextUnitFloat() - 0.5 })
            return convolution
        }
        let first = ResidualBlock(main: [layer(3, 2, kernel: 1, stride: 1), layer(2, 2, kernel: 3, stride: 2), layer(2, 4, kernel: 1, stride: 1)],
                                  downsample: layer(3, 4, kernel: 1, stride: 2))
        let second = ResidualBlock(main: [layer(4, 4, kernel: 3, stride: 1), layer(4, 4, kernel: 3, stride: 1)], downsample: nil)
        return ResNetTail(blocks: [first, second], gridSize: 3)
    }

    @Test("every parameter's gradient and the input's agree with central differences", arguments: [false, true])
    func gradientCheck(positions: Bool) {
        let tail = Self.tinyTail()
        let input = Self.images(count: 2, side: 7, seed: 96)
        let (features, cache) = tail.forward(input, positions: positions)
        #expect(features.shape == [2, 9, positions ? 6 : 4])
        var generator = SeededGenerator(seed: 97)
        let weights = Tensor(shape: features.shape, scalars: (0..<features.scalarCount).map { _ in generator.nextUnitFloat() * 2 - 1 })
        var gradients = tail.zeroGradients()
        let inputGradient = tail.backward(weights, cache: cache, into: &gradients, computingInputGradient: true)!
        // A step of 1e-3: each ReLU that a perturbation pushes across zero adds an error of the
        // size of its input to the difference quotient, and at 1e-2 a few of them always do
        // (errors of 30% to 140%). At 1e-3 the float32 noise of the loss is ~1e-4 absolute,
        // hence the floor of 5e-2; the gradients checked are mostly 0.1 to 6.
        let checker = GradientChecker(step: 1e-3, tolerance: 1e-2, floor: 5e-2)
        checker.checkParameters(of: tail, gradients: gradients) { weightedSum($0(input, positions: positions), weights) }
        checker.check("input", analytic: inputGradient, at: input) { weightedSum(tail($0, positions: positions), weights) }

        // Without the input's gradient, the parameters' are the same.
        var parametersOnly = tail.zeroGradients()
        #expect(tail.backward(weights, cache: tail.forward(input, positions: positions).cache, into: &parametersOnly) == nil)
        for path in tail.parameterPaths {
            #expect(parametersOnly[keyPath: path.gradient] == gradients[keyPath: path.gradient], "\(path.name)")
        }
    }

    @Test("the model trains its tail: cached stage inputs give the loss and gradients of the images they came from")
    func cachedInputsEqualImages() {
        var model = Self.model(stage: 4)
        #expect(model.parameterPaths.filter { $0.name.hasPrefix("image_encoder.") }.map(\.name).first == "image_encoder.layer4.0.conv1.weight")
        #expect(model.cachedInputShape == [256, 4, 4])
        let images = ModelFixtures.batch(model.configuration, imageCount: 2, lengths: [3, 1, 4], seed: 98)
        let cached = CaptionBatch(features: model.cachedInputs(of: images.images), captions: images.captions)
        var generator = SeededGenerator(seed: 99)
        let fromImages = model.lossAndGradients(for: images, mode: .training, using: &generator)
        generator = SeededGenerator(seed: 99)
        let fromCache = model.lossAndGradients(for: cached, mode: .training, using: &generator)
        #expect(fromImages.loss == fromCache.loss)
        for path in model.parameterPaths {
            #expect(fromImages.gradients[keyPath: path.gradient] == fromCache.gradients[keyPath: path.gradient], "\(path.name)")
        }
        let tailGradient = fromCache.gradients.encoderTail!.blocks[0].main[0].weight
        #expect(tailGradient.scalars.contains { $0 != 0 }, "the tail gets a gradient")
        assertClose(model.features(of: images.images), Self.resnet(images.images), absoluteTolerance: 1e-5, relativeTolerance: 1e-4)
    }

    @Test("through the whole model's loss, sampled tail gradients agree with central differences")
    func modelGradientThroughTheTail() {
        var model = Self.model(stage: 4, positions: true)
        let batch = ModelFixtures.batch(model.configuration, imageCount: 2, lengths: [3, 2], seed: 100)
        let cached = CaptionBatch(features: model.cachedInputs(of: batch.images), captions: batch.captions)
        var generator = SeededGenerator(seed: 101)
        let result = model.lossAndGradients(for: cached, mode: .inference, using: &generator)
        var sample = SeededGenerator(seed: 102)
        for path in model.parameterPaths where path.name.hasPrefix("image_encoder.layer4.1.") {
            let analytic = result.gradients[keyPath: path.gradient]
            // The largest gradient and two drawn at random: enough to catch a wrong route.
            let largest = (0..<analytic.scalarCount).max { abs(analytic[flat: $0]) < abs(analytic[flat: $1]) }!
            for index in [largest, sample.nextIndex(below: analytic.scalarCount), sample.nextIndex(below: analytic.scalarCount)] {
                let step: Float = 1e-3 // as in gradientCheck: ReLU kinks
                var up = model, down = model
                up[keyPath: path.parameter][flat: index] += step
                down[keyPath: path.parameter][flat: index] -= step
                let numeric = (Double(up.evaluateLoss(for: cached).total) - Double(down.evaluateLoss(for: cached).total)) / Double(2 * step)
                let value = Double(analytic[flat: index])
                #expect(abs(value - numeric) <= 2e-2 * max(abs(value), abs(numeric), 5e-2),
                        "\(path.name)[\(index)]: analytic \(value), numeric \(numeric)")
            }
        }
    }

    @Test("Adam moves the tail at its own rate: one step changes it by a tenth as much at a scale of 0.1")
    func ownLearningRate() {
        var model = Self.model(stage: 4)
        let batch = ModelFixtures.batch(model.configuration, imageCount: 2, lengths: [3, 2], seed: 103)
        var generator = SeededGenerator(seed: 104)
        let gradients = model.lossAndGradients(for: batch, mode: .training, using: &generator).gradients
        var optimizer = Adam(learningRate: 1e-3)
        optimizer.learningRateScales = [CaptioningModel.pretrainedEncoderPrefix: 0.1]
        var updated = model
        optimizer.update(&updated, along: gradients)
        // Adam's first step moves every parameter with a gradient well above ε by lr·sign(g).
        func largestStep(_ prefix: String) -> Float {
            model.parameterPaths.filter { $0.name.hasPrefix(prefix) }.map { path in
                zip(model[keyPath: path.parameter].scalars, updated[keyPath: path.parameter].scalars).map { abs($0 - $1) }.max() ?? 0
            }.max() ?? 0
        }
        #expect(abs(largestStep("image_encoder.") - 1e-4) < 1e-6, "\(largestStep("image_encoder."))")
        #expect(abs(largestStep("decoder.") - 1e-3) < 1e-5, "\(largestStep("decoder."))")
    }

    @Test("the checkpoint carries the trained stages; the frozen ones are checked by their digest")
    func checkpointRoundTrip() throws {
        var model = Self.model(stage: 3)
        model.encoderTail!.blocks[0].main[0].weight[flat: 5] += 0.25 // as training would
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("glimpse-finetune-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let path = scratch + "/model.safetensors"
        let vocabulary = ModelFixtures.vocabulary(size: 9)
        let preprocessing = Preprocessing(imageSize: 64, resizeShortSide: 73)
        try Checkpoint(model: model, vocabulary: vocabulary, preprocessing: preprocessing).write(to: path)
        let read = try Checkpoint(contentsOf: path)
        #expect(read.model.configuration == model.configuration)
        for path in model.parameterPaths {
            #expect(read.model[keyPath: path.parameter] == model[keyPath: path.parameter], "\(path.name)")
        }
        let images = Self.images(count: 1, seed: 105)
        #expect(read.model.features(of: images) == model.features(of: images))
        #expect(read.model.features(of: images) != Self.resnet(images), "the trained weight is used")

        // A changed frozen weight is refused; a changed trainable one is the model's own business.
        let file = try SafeTensorsFile(contentsOf: path)
        var tensors: [String: ShapedArray<Float>] = [:]
        for name in file.names { tensors[name] = try file.floats(named: name) }
        func changed(_ name: String) -> [String: ShapedArray<Float>] {
            var copy = tensors
            var values = copy[name]!.values
            values[0] += 1
            copy[name] = ShapedArray(shape: copy[name]!.shape, values: values)
            return copy
        }
        try SafeTensorsWriter.write(changed("image_encoder.layer2.0.conv1.weight"), metadata: file.metadata, to: path)
        #expect(throws: CheckpointError.self) { try Checkpoint(contentsOf: path) }
        try SafeTensorsWriter.write(changed("image_encoder.layer3.0.conv1.weight"), metadata: file.metadata, to: path)
        #expect(throws: Never.self) { try Checkpoint(contentsOf: path) }
    }

    @Test("the configuration names the stage and reads back; files without it read as all frozen; 0 and 5 are refused")
    func configurationCoding() throws {
        let configuration = Self.configuration(stage: 2)
        let text = String(decoding: try JSONEncoder().encode(configuration), as: UTF8.self)
        #expect(text.contains("\"trainableFromStage\":2"))
        #expect(try JSONDecoder().decode(ModelConfiguration.self, from: Data(text.utf8)) == configuration)
        let frozen = String(decoding: try JSONEncoder().encode(PretrainedEncoderTests.configuration()), as: UTF8.self)
        #expect(!frozen.contains("trainableFromStage"))
        for stage in [0, 5] {
            #expect(throws: ModelConfigurationError.trainableStageOutOfRange(stage)) {
                try ModelConfiguration(vocabularySize: 9, imageSize: 64, stageChannels: [],
                                       pretrainedEncoder: .init(architecture: .resnet18, gridSize: 2, digest: "0", trainableFromStage: stage))
            }
        }
        #expect(ResNetWeights.digest(Self.resnet, frozenBefore: nil) == ResNetWeights.digest(Self.resnet))
        #expect(ResNetWeights.digest(Self.resnet, frozenBefore: 4) != ResNetWeights.digest(Self.resnet))
    }
}

