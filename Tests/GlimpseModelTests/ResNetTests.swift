import Foundation
import GlimpseLayers
import GlimpseModel
import GlimpseSafeTensors
import GlimpseSupport
import GlimpseTensor
import GlimpseTestSupport
import GlimpseText
import Testing

/// torchvision's ResNets with deterministic weights, as Scripts/reference_resnet.py builds
/// them: every tensor filled from SplitMix64 seeded with FNV-1a of its name, so the fixture
/// holds only names, shapes and the expected features.
enum ResNetFixture {
    static let file = Result { try SafeTensorsFile(contentsOf: ModelFixtures.fixturePath("resnet_expected.safetensors")) }

    struct Case: Decodable {
        let name: String
        let arch: String
        let images: Int
        let size: Int
        let grid: Int
    }

    static func cases() throws -> [Case] {
        try JSONDecoder().decode([Case].self, from: Data(file.get().metadata["cases"]!.utf8))
    }

    /// `count` values in [0, 1), exactly as the script's `uniforms`.
    static func uniforms(_ name: String, count: Int) -> [Double] {
        var generator = SplitMix64(seed: FNV1a.hash(Array(name.utf8)))
        return (0..<count).map { _ in Double(generator.next() >> 40) / Double(1 << 24) }
    }

    /// The script's `fill`: one tensor's values, by what its name says it is.
    static func values(name: String, shape: [Int]) -> [Float] {
        let u = uniforms(name, count: shape.reduce(1, *))
        let branchEnd = name.hasPrefix("layer") && ["bn2.weight", "bn3.weight", "downsample.1.weight"].contains { name.hasSuffix($0) }
        let value: (Double) -> Double
        if name.hasSuffix("running_mean") || name.hasSuffix(".bias") {
            value = { 0.2 * (2 * $0 - 1) }
        } else if name.hasSuffix("running_var") {
            value = { 0.5 + $0 }
        } else if shape.count == 4 {
            let bound = (6.0 / Double(shape[1] * shape[2] * shape[3])).squareRoot()
            value = { (2 * $0 - 1) * bound }
        } else if name.hasPrefix("fc.") {
            value = { 0.01 * (2 * $0 - 1) }
        } else if branchEnd {
            value = { 0.2 + 0.3 * $0 }
        } else {
            value = { 0.5 + 0.5 * $0 }
        }
        return u.map { Float(value($0)) }
    }

    /// The torchvision state dict of `architecture`, as a safetensors file in memory
    /// (BatchNorm's `num_batches_tracked` and the classifier included, as torchvision saves them).
    static func stateDictionary(_ architecture: String, prefix: String = "",
                                editing edit: (inout [String: SafeTensorsWriter.Tensor]) -> Void = { _ in }) throws -> SafeTensorsFile {
        var tensors: [String: SafeTensorsWriter.Tensor] = [:]
        for (name, tensor) in try generated[architecture]!.get() { tensors[prefix + name] = tensor }
        edit(&tensors)
        return try SafeTensorsFile(bytes: SafeTensorsWriter.encode(tensors), path: "\(architecture).safetensors")
    }

    /// Each architecture's tensors, generated once per test run (ResNet-50 has 25 million values).
    private static let generated: [String: Result<[String: SafeTensorsWriter.Tensor], any Error>] = Dictionary(
        uniqueKeysWithValues: ["resnet18", "resnet34", "resnet50"].map { architecture in
            (architecture, Result { () throws -> [String: SafeTensorsWriter.Tensor] in
                let entries = try JSONSerialization.jsonObject(
                    with: Data(file.get().metadata["names." + architecture]!.utf8)) as! [[Any]]
                var tensors: [String: SafeTensorsWriter.Tensor] = [:]
                for entry in entries {
                    let (name, shape, dtype) = (entry[0] as! String, entry[1] as! [Int], entry[2] as! String)
                    tensors[name] = dtype == "I64"
                        ? .int64(ShapedArray(shape: shape, values: [Int64](repeating: 0, count: shape.reduce(1, *))))
                        : .float32(ShapedArray(shape: shape, values: values(name: name, shape: shape)))
                }
                return tensors
            })
        })

    static func images(_ testCase: Case) -> Tensor {
        let shape = [testCase.images, 3, testCase.size, testCase.size]
        return Tensor(shape: shape, scalars: uniforms("input." + testCase.name, count: shape.reduce(1, *)).map { Float(4 * $0 - 2) })
    }

    static func expected(_ testCase: Case) throws -> Tensor {
        let stored = try file.get().floats(named: "features." + testCase.name)
        return Tensor(shape: stored.shape, scalars: stored.values)
    }
}

@Suite("ResNet encoders against torchvision")
struct ResNetTests {
    @Test("the architectures have torchvision's layer counts and names")
    func layouts() throws {
        // conv1 + blocks × convolutions per block + one downsample per stage that changes size.
        #expect(ResNetArchitecture.resnet18.convolutions.count == 1 + 8 * 2 + 3)
        #expect(ResNetArchitecture.resnet34.convolutions.count == 1 + 16 * 2 + 3)
        #expect(ResNetArchitecture.resnet50.convolutions.count == 1 + 16 * 3 + 4)
        for architecture in ResNetArchitecture.allCases {
            let entries = try JSONSerialization.jsonObject(
                with: Data(ResNetFixture.file.get().metadata["names." + architecture.rawValue]!.utf8)) as! [[Any]]
            let torchvision = Dictionary(uniqueKeysWithValues: entries.map { ($0[0] as! String, $0[1] as! [Int]) })
            for layer in architecture.convolutions {
                #expect(torchvision[layer.name + ".weight"] == layer.weightShape, "\(architecture) \(layer.name)")
                #expect(torchvision[layer.batchNormName + ".running_var"] == [layer.outputChannels], "\(layer.batchNormName)")
            }
        }
    }

    @Test("features of the imported torchvision weights match PyTorch's within 1e-4 relative",
          arguments: try ResNetFixture.cases())
    func features(_ testCase: ResNetFixture.Case) throws {
        let architecture = try #require(ResNetArchitecture(rawValue: testCase.arch))
        let encoder = try ResNetWeights.importTorchvision(ResNetFixture.stateDictionary(testCase.arch),
                                                          architecture: architecture, gridSize: testCase.grid)
        let expected = try ResNetFixture.expected(testCase)
        let features = encoder(ResNetFixture.images(testCase))
        #expect(features.shape == [testCase.images, testCase.grid * testCase.grid, architecture.featureSize])
        let scale = Double(expected.maxAbsolute())
        assertClose(features, expected, absoluteTolerance: 1e-4 * scale, relativeTolerance: 1e-4, name: testCase.name)
    }

    @Test("a decoder on the imported ResNet-18's features: PyTorch's teacher-forced logits and losses, and its greedy captions")
    func decoderOnTop() throws {
        let file = try ResNetFixture.file.get()
        let metadata = try JSONSerialization.jsonObject(with: Data(file.metadata["decoder"]!.utf8)) as! [String: Any]
        let config = metadata["config"] as! [String: Any]
        let testCase = try #require(try ResNetFixture.cases().first { $0.name == metadata["case"] as! String })
        let encoder = try ResNetWeights.importTorchvision(ResNetFixture.stateDictionary("resnet18"), architecture: .resnet18,
                                                          gridSize: testCase.grid)
        let configuration = try ModelConfiguration(
            vocabularySize: config["vocabularySize"] as! Int, imageSize: testCase.size, stageChannels: [],
            embeddingSize: config["embeddingSize"] as! Int, attentionSize: config["attentionSize"] as! Int,
            hiddenSize: config["hiddenSize"] as! Int, dropout: 0,
            pretrainedEncoder: .init(architecture: .resnet18, gridSize: testCase.grid, digest: ResNetWeights.digest(encoder)))
        // One file as a checkpoint holds them: the decoder's tensors and the folded encoder's.
        var tensors = ResNetWeights.foldedTensors(encoder, prefix: CaptioningModel.pretrainedEncoderPrefix)
        for name in file.names where name.hasPrefix("param.") { tensors[String(name.dropFirst(6))] = try file.floats(named: name) }
        var model = try CaptioningModel(configuration: configuration,
                                        tensorsFrom: SafeTensorsFile(bytes: SafeTensorsWriter.encode(tensors)))

        let images = ResNetFixture.images(testCase)
        let captions = (metadata["captions"] as! [[Any]]).map { entry in
            CaptionBatch.Caption(imageIndex: entry[0] as! Int, tokens: (entry[1] as! [Int]).map(Int32.init))
        }
        let batch = CaptionBatch(images: images, captions: captions)
        var generator = SeededGenerator(seed: 1)
        let pass = model.lossAndGradients(for: batch, mode: .inference, using: &generator)
        let expectedLogits = try file.floats(named: "decoder.logits")
        assertClose(pass.packedLogits, Tensor(shape: expectedLogits.shape, scalars: expectedLogits.values),
                    absoluteTolerance: 1e-4, relativeTolerance: 1e-4, name: "teacher-forced logits")
        let crossEntropy = try file.floats(named: "decoder.cross_entropy").values[0]
        let penalty = try file.floats(named: "decoder.attention_penalty").values[0]
        #expect(abs(pass.loss.crossEntropy - crossEntropy) <= 1e-4 * crossEntropy, "\(pass.loss.crossEntropy) vs \(crossEntropy)")
        #expect(abs(pass.loss.attentionPenalty - penalty) <= 1e-4 * penalty + 1e-6, "\(pass.loss.attentionPenalty) vs \(penalty)")
        #expect(model.evaluateLoss(for: CaptionBatch(features: model.features(of: images), captions: captions)).crossEntropy
                    .distance(to: crossEntropy).magnitude <= 1e-4 * crossEntropy)

        // PyTorch runs six greedy steps regardless of <end>: Glimpse's caption is its tokens up to the first <end>.
        let greedy = try file.int64s(named: "decoder.greedy")
        let results = model.caption(images, options: DecodingOptions(beamSize: 1, maximumLength: greedy.shape[1]))
        for (index, result) in results.enumerated() {
            let steps = greedy.values[(index * greedy.shape[1])..<((index + 1) * greedy.shape[1])].map(Int32.init)
            #expect(result.best.tokens == Array(steps.prefix { $0 != Vocabulary.endID }), "image \(index)")
        }
    }

    @Test("an encoder file keeps the folded weights exactly, with the architecture and digest")
    func encoderFileRoundTrip() throws {
        let encoder = try ResNetWeights.importTorchvision(ResNetFixture.stateDictionary("resnet18"), architecture: .resnet18)
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("encoder.safetensors").path
        try ResNetWeights.write(encoder, to: path)
        let file = try SafeTensorsFile(contentsOf: path)
        #expect(file.metadata["architecture"] == "resnet18")
        #expect(file.metadata["digest"] == ResNetWeights.digest(encoder))
        let read = try ResNetWeights.read(file, gridSize: 7)
        #expect(read.convolutions.map { $0.weight } == encoder.convolutions.map { $0.weight })
        #expect(read.convolutions.map { $0.bias } == encoder.convolutions.map { $0.bias })
        #expect(ResNetWeights.digest(read) == ResNetWeights.digest(encoder))
        var other = encoder.convolutions
        other[5].bias![0] += 1e-3
        #expect(ResNetWeights.digest(ResNetEncoder(architecture: .resnet18, gridSize: 7, convolutions: other))
                    != ResNetWeights.digest(encoder))
    }

    @Test("a DataParallel prefix is accepted; the classifier is not needed")
    func prefixAndClassifier() throws {
        let prefixed = try ResNetFixture.stateDictionary("resnet18", prefix: "module.")
        let plain = try ResNetFixture.stateDictionary("resnet18") { tensors in
            tensors["fc.weight"] = nil
            tensors["fc.bias"] = nil
        }
        let first = try ResNetWeights.importTorchvision(prefixed, architecture: .resnet18)
        let second = try ResNetWeights.importTorchvision(plain, architecture: .resnet18)
        #expect(ResNetWeights.digest(first) == ResNetWeights.digest(second))
    }

    @Test("wrong architecture, missing, mis-shaped, non-float, non-finite and unknown tensors are named")
    func importErrors() throws {
        func reason(_ file: SafeTensorsFile, as architecture: ResNetArchitecture) -> CheckpointError.Reason? {
            do {
                _ = try ResNetWeights.importTorchvision(file, architecture: architecture)
                return nil
            } catch { return error.reason }
        }
        let resnet50 = try ResNetFixture.stateDictionary("resnet50")
        #expect(reason(resnet50, as: .resnet18) == .wrongArchitecture(expected: "resnet18", found: "resnet50"))
        let resnet34 = try ResNetFixture.stateDictionary("resnet34")
        #expect(reason(resnet34, as: .resnet50) == .wrongArchitecture(expected: "resnet50", found: "resnet34"))
        let missing = try ResNetFixture.stateDictionary("resnet18") { $0["layer3.1.bn2.running_var"] = nil }
        #expect(reason(missing, as: .resnet18) == .missingTensor("layer3.1.bn2.running_var"))
        let misShaped = try ResNetFixture.stateDictionary("resnet18") {
            $0["layer2.0.downsample.0.weight"] = .float32(ShapedArray(shape: [128, 64, 3, 3], values: [Float](repeating: 0, count: 128 * 64 * 9)))
        }
        #expect(reason(misShaped, as: .resnet18)
                    == .wrongShape(tensor: "layer2.0.downsample.0.weight", expected: [128, 64, 1, 1], found: [128, 64, 3, 3]))
        let integer = try ResNetFixture.stateDictionary("resnet18") {
            $0["bn1.weight"] = .int64(ShapedArray(shape: [64], values: [Int64](repeating: 1, count: 64)))
        }
        #expect(reason(integer, as: .resnet18) == .wrongDType(tensor: "bn1.weight", found: "I64"))
        let diverged = try ResNetFixture.stateDictionary("resnet18") {
            var values = [Float](repeating: 1, count: 256)
            values[7] = .nan
            $0["layer3.0.bn1.running_var"] = .float32(ShapedArray(shape: [256], values: values))
        }
        guard case .nonFinite(let name, let index, _) = reason(diverged, as: .resnet18) else {
            Issue.record("a NaN statistic was accepted")
            return
        }
        #expect(name == "layer3.0.bn1.running_var" && index == 7)
        let extra = try ResNetFixture.stateDictionary("resnet18") { $0["layer1.0.se.weight"] = .float32(ShapedArray(shape: [1], values: [0])) }
        #expect(reason(extra, as: .resnet18) == .unexpectedTensor("layer1.0.se.weight"))
        let notResNet = try SafeTensorsFile(bytes: SafeTensorsWriter.encode(["weight": ShapedArray(shape: [1], values: [0])]))
        #expect(reason(notResNet, as: .resnet18)
                    == .wrongArchitecture(expected: "resnet18", found: "no torchvision ResNet (no layer1.0.conv1.weight)"))
    }
}
