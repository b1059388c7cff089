import Foundation
import GlimpseData
import GlimpseImage
import GlimpseModel
import GlimpseSafeTensors
import GlimpseTensor
import GlimpseTestSupport
import Testing
import GlimpseText

@Suite("PyTorch state dicts: import and export")
struct StateDictionaryTests {
    /// The fixtures' configuration (Scripts/interop_demo.py, TINY): S 8 is not in the shapes.
    static let options = StateDictionary.ImportOptions(imageSize: 8, dropout: 0, attentionRegularization: 1)

    static func vocabulary() throws -> Vocabulary {
        try Vocabulary(fileContents: String(contentsOfFile: ModelFixtures.fixturePath("pytorch_vocab.txt"), encoding: .utf8))
    }

    static func file(_ name: String) throws -> SafeTensorsFile {
        try SafeTensorsFile(contentsOf: ModelFixtures.fixturePath(name))
    }

    /// Teacher-forced with PyTorch's greedy words: the log-probabilities of every step.
    static func greedyLogProbabilities(_ model: CaptioningModel, images: Tensor, tokens: ShapedArray<Int64>) -> Tensor {
        let (imageCount, steps) = (tokens.shape[0], tokens.shape[1])
        var state = model.encode(images).initialState()
        var previous = [Int32](repeating: Vocabulary.startID, count: imageCount)
        var perStep: [[Float]] = []
        for step in 0..<steps {
            let output = model.decodeStep(tokens: previous, state: state)
            perStep.append(output.logProbabilities.scalars)
            previous = (0..<imageCount).map { Int32(tokens.values[$0 * steps + step]) }
            state = output.state
        }
        // [steps, N, V] → [N, steps, V], PyTorch's layout.
        let v = model.configuration.vocabularySize
        var values: [Float] = []
        for image in 0..<imageCount { for step in 0..<steps { values += perStep[step][(image * v)..<((image + 1) * v)] } }
        return Tensor(shape: [imageCount, steps, v], scalars: values)
    }

    @Test("a state dict saved by safetensors.torch imports, and decodes as PyTorch did", arguments: ["f32", "f16", "bf16"])
    func importsPyTorchOutput(dtype: String) throws {
        let stateDict = try Self.file("pytorch_state_dict_\(dtype).safetensors")
        #expect(stateDict.entries.contains { $0.name.hasSuffix("num_batches_tracked") && $0.dtype == .int64 })
        let checkpoint = try StateDictionary.importCheckpoint(from: stateDict, vocabulary: Self.vocabulary(), options: Self.options)
        #expect(checkpoint.model.configuration == ModelFixtures.tinyConfiguration())
        #expect(checkpoint.preprocessing == Preprocessing(imageSize: 8))
        for (name, path) in checkpoint.model.namedTensorPaths {
            #expect(checkpoint.model[keyPath: path].scalars == (try stateDict.floats(named: name)).values, "\(name)")
        }
        let expected = try Self.file("pytorch_expected.safetensors")
        let images = try expected.floats(named: "input.images")
        let tokens = try expected.int64s(named: "\(dtype).greedy")
        let logProbabilities = try expected.floats(named: "\(dtype).greedy_log_probs")
        let actual = Self.greedyLogProbabilities(checkpoint.model, images: Tensor(shape: images.shape, scalars: images.values),
                                                 tokens: tokens)
        #expect(assertClose(actual, Tensor(shape: logProbabilities.shape, scalars: logProbabilities.values),
                            absoluteTolerance: 1e-5, relativeTolerance: 1e-4, name: "\(dtype) greedy log-probabilities"))
        // Greedy search picks PyTorch's words.
        let results = checkpoint.model.caption(Tensor(shape: images.shape, scalars: images.values),
                                               options: DecodingOptions(beamSize: 1, maximumLength: 4))
        for (image, result) in results.enumerated() {
            let words = tokens.values[(image * 4)..<((image + 1) * 4)].map { Int32($0) }
            let cut = words.firstIndex(of: Vocabulary.endID).map { Array(words[..<$0]) } ?? Array(words)
            #expect(result.best.tokens == cut, "image \(image)")
        }
    }

    @Test("export then import gives identical weights, logits and captions (position features read from the shapes)",
          arguments: [false, true])
    func roundTrip(positionFeatures: Bool) throws {
        let configuration = try ModelConfiguration(vocabularySize: 9, imageSize: 8, stageChannels: [2, 3], embeddingSize: 3,
                                                   attentionSize: 3, hiddenSize: 4, dropout: 0.3, attentionRegularization: 0.5,
                                                   positionFeatures: positionFeatures)
        let original = Checkpoint(model: ModelFixtures.model(configuration, seed: 90),
                                  vocabulary: ModelFixtures.vocabulary(size: 9),
                                  preprocessing: Preprocessing(imageSize: 8, mean: [0.5, 0.5, 0.5], std: [0.25, 0.5, 1]))
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("state.safetensors").path
        try StateDictionary.write(original.model, to: path)

        let file = try SafeTensorsFile(contentsOf: path)
        #expect(file.names.filter { $0.hasSuffix("num_batches_tracked") }
            == ["encoder.stages.0.bn1.num_batches_tracked", "encoder.stages.0.bn2.num_batches_tracked",
                "encoder.stages.1.bn1.num_batches_tracked", "encoder.stages.1.bn2.num_batches_tracked"])
        #expect(try file.int64s(named: "encoder.stages.1.bn2.num_batches_tracked") == ShapedArray(shape: [], values: [0]))
        #expect(file.entries.filter { $0.dtype == .float32 }.count == original.model.namedTensorPaths.count)

        let imported = try StateDictionary.importCheckpoint(contentsOf: path, vocabulary: original.vocabulary,
                                                           options: .init(matching: original))
        #expect(imported.model.configuration == original.model.configuration)
        #expect(imported.preprocessing == original.preprocessing)
        for (name, keyPath) in original.model.namedTensorPaths {
            #expect(imported.model[keyPath: keyPath] == original.model[keyPath: keyPath], "\(name)")
        }
        let images = ModelFixtures.batch(original.model.configuration, imageCount: 3, lengths: [], seed: 91).images
        let before = original.model.decodeStep(tokens: [1, 1, 1], state: original.model.encode(images).initialState())
        let after = imported.model.decodeStep(tokens: [1, 1, 1], state: imported.model.encode(images).initialState())
        #expect(before.logProbabilities == after.logProbabilities)
        let options = DecodingOptions(beamSize: 3, maximumLength: 6)
        #expect(original.model.caption(images, options: options).map(\.best)
            == imported.model.caption(images, options: options).map(\.best))
    }

    /// Imports the F32 fixture after `edit`, and returns the error.
    func importError(vocabularySize: Int = 9,
                     _ edit: (inout [String: SafeTensorsWriter.Tensor]) -> Void) throws -> CheckpointError? {
        let source = try Self.file("pytorch_state_dict_f32.safetensors")
        var tensors: [String: SafeTensorsWriter.Tensor] = [:]
        for entry in source.entries {
            tensors[entry.name] = entry.dtype == .int64 ? .int64(try source.int64s(named: entry.name))
                                                       : .float32(try source.floats(named: entry.name))
        }
        edit(&tensors)
        let file = try SafeTensorsFile(bytes: SafeTensorsWriter.encode(tensors), path: "edited.safetensors")
        return #expect(throws: CheckpointError.self) {
            _ = try StateDictionary.importCheckpoint(from: file, vocabulary: ModelFixtures.vocabulary(size: vocabularySize),
                                                     options: Self.options)
        }
    }

    static func zeros(_ shape: [Int]) -> SafeTensorsWriter.Tensor {
        .float32(ShapedArray(shape: shape, values: [Float](repeating: 0, count: shape.reduce(1, *))))
    }

    @Test("every inconsistency is a typed error naming the tensor")
    func errors() throws {
        #expect(try importError { $0["decoder.lstm.bias_hh"] = nil }?.reason == .missingTensor("decoder.lstm.bias_hh"))
        #expect(try importError { $0["decoder.fc.weight"] = nil }?.reason == .missingTensor("decoder.fc.weight"))
        #expect(try importError { $0["decoder.extra.weight"] = Self.zeros([2]) }?.reason == .unexpectedTensor("decoder.extra.weight"))
        // A third stage's conv1 alone: the stage count follows it, so its other tensors are missing.
        #expect(try importError { $0["encoder.stages.2.conv1.weight"] = Self.zeros([3, 3, 3, 3]) }?.reason
            == .missingTensor("encoder.stages.2.bn1.weight"))
        #expect(try importError { $0["decoder.init_c.weight"] = Self.zeros([4, 2]) }?.reason
            == .wrongShape(tensor: "decoder.init_c.weight", expected: [4, 3], found: [4, 2]))
        // Shapes that do not fit together: stage 1's conv1 takes 3 channels in, but stage 0 gives 2.
        #expect(try importError { $0["encoder.stages.1.conv1.weight"] = Self.zeros([3, 3, 3, 3]) }?.reason
            == .wrongShape(tensor: "encoder.stages.1.conv1.weight", expected: [3, 2, 3, 3], found: [3, 3, 3, 3]))
        #expect(try importError { $0["decoder.embedding.weight"] = Self.zeros([9]) }?.reason
            == .cannotInferConfiguration(tensor: "decoder.embedding.weight", problem: "shape [9] is not [V, E]"))
        #expect(try importError { $0["decoder.fc.bias"] = .int64(ShapedArray(shape: [9], values: Array(repeating: 0, count: 9))) }?.reason
            == .wrongDType(tensor: "decoder.fc.bias", found: "I64"))
        #expect(try importError(vocabularySize: 10) { _ in }?.reason == .vocabularySizeMismatch(vocabulary: 10, configuration: 9))
        let error = try importError { $0["decoder.lstm.bias_hh"] = nil }
        #expect(error?.description == "edited.safetensors: missing tensor decoder.lstm.bias_hh")
    }

    @Test("options shapes cannot tell are checked: an image size the stages cannot halve is refused")
    func badImageSize() throws {
        let file = try Self.file("pytorch_state_dict_f32.safetensors")
        let error = #expect(throws: CheckpointError.self) {
            _ = try StateDictionary.importCheckpoint(from: file, vocabulary: Self.vocabulary(),
                                                     options: .init(imageSize: 10))
        }
        #expect(error?.reason == .invalidConfiguration("image size 10 is not divisible by 2^2 (one halving per encoder stage)"))
    }
}
