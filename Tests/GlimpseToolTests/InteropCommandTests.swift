import Foundation
import GlimpseData
import GlimpseImage
import GlimpseModel
import GlimpseSafeTensors
import Testing
import GlimpseText

@Suite("glimpse import and glimpse export")
struct InteropCommandTests {
    /// The PyTorch-written fixtures of GlimpseModelTests (Scripts/interop_demo.py).
    static func pytorchFixture(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("GlimpseModelTests/Fixtures/\(name)").path
    }

    @Test("import reads a PyTorch state dict and its vocabulary; export writes them back; import again is identical")
    func importExportImport() throws {
        let folder = try ScratchFolder()
        let model = folder.path + "/model.safetensors"
        let imported = try ToolRunner.run(["import", Self.pytorchFixture("pytorch_state_dict_f16.safetensors"),
                                           "--vocab", Self.pytorchFixture("pytorch_vocab.txt"), "--out", model,
                                           "--image-size", "16", "--dropout", "0.1", "--mean", "0.5,0.5,0.5", "--std", "0.2,0.3,0.4"])
        #expect(imported.status == 0, "\(imported.standardError)")
        let checkpoint = try Checkpoint(contentsOf: model)
        #expect(checkpoint.model.configuration == (try ModelConfiguration(
            vocabularySize: 9, imageSize: 16, stageChannels: [2, 3], embeddingSize: 3, attentionSize: 3, hiddenSize: 4,
            dropout: 0.1, attentionRegularization: 1)))
        #expect(checkpoint.preprocessing == Preprocessing(imageSize: 16, mean: [0.5, 0.5, 0.5], std: [0.2, 0.3, 0.4]))

        let stateDict = folder.path + "/exported.safetensors", vocab = folder.path + "/vocab.txt"
        let exported = try ToolRunner.run(["export", model, "--out", stateDict, "--vocab-out", vocab])
        #expect(exported.status == 0, "\(exported.standardError)")
        #expect(exported.standardOutput.contains("--image-size 16 --dropout 0.1 --attention-regularization 1.0"))
        #expect(try String(contentsOfFile: vocab, encoding: .utf8)
            == String(contentsOfFile: Self.pytorchFixture("pytorch_vocab.txt"), encoding: .utf8))
        let file = try SafeTensorsFile(contentsOf: stateDict)
        #expect(file.entries.filter { $0.dtype == .int64 && $0.shape == [] }.count == 4)
        #expect(Set(file.names) == Set(try SafeTensorsFile(contentsOf: Self.pytorchFixture("pytorch_state_dict_f16.safetensors")).names))

        let again = folder.path + "/again.safetensors"
        let reimported = try ToolRunner.run(["import", stateDict, "--vocab", vocab, "--out", again, "--image-size", "16",
                                             "--dropout", "0.1", "--mean", "0.5,0.5,0.5", "--std", "0.2,0.3,0.4"])
        #expect(reimported.status == 0, "\(reimported.standardError)")
        let second = try Checkpoint(contentsOf: again)
        #expect(second.model.configuration == checkpoint.model.configuration)
        #expect(second.preprocessing == checkpoint.preprocessing && second.vocabulary == checkpoint.vocabulary)
        for (name, path) in checkpoint.model.namedTensorPaths {
            #expect(second.model[keyPath: path] == checkpoint.model[keyPath: path], "\(name)")
        }
    }

    @Test("inconsistencies are errors naming the file and what is wrong")
    func errors() throws {
        let folder = try ScratchFolder()
        try folder.write(Array((Vocabulary.specialTokens + ["a", "b", "c", "d", "e", "f"]).joined(separator: "\n").utf8),
                         to: "ten.txt")
        let state = Self.pytorchFixture("pytorch_state_dict_f32.safetensors")
        let wrongSize = try ToolRunner.run(["import", state, "--vocab", folder.path + "/ten.txt", "--out", folder.path + "/m.safetensors"])
        #expect(wrongSize.status == 1)
        #expect(wrongSize.standardError.contains("pytorch_state_dict_f32.safetensors: the vocabulary has 10 tokens but the configuration says V = 9"))
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/m.safetensors"))

        try folder.write(Array("a\nb\n".utf8), to: "bad.txt")
        let badVocabulary = try ToolRunner.run(["import", state, "--vocab", folder.path + "/bad.txt", "--out", folder.path + "/m.safetensors"])
        #expect(badVocabulary.status == 1)
        #expect(badVocabulary.standardError.contains("bad.txt: a vocabulary must start with <pad>"))

        let notAStateDict = try ToolRunner.run(["import", Self.pytorchFixture("pytorch_expected.safetensors"),
                                                "--vocab", Self.pytorchFixture("pytorch_vocab.txt"), "--out", folder.path + "/m.safetensors"])
        #expect(notAStateDict.status == 1)
        #expect(notAStateDict.standardError.contains("missing tensor encoder.stages.0.conv1.weight"))

        let badMean = try ToolRunner.run(["import", state, "--vocab", Self.pytorchFixture("pytorch_vocab.txt"),
                                          "--out", folder.path + "/m.safetensors", "--mean", "0.5,0.5"])
        #expect(badMean.status != 0)
        #expect(badMean.standardError.contains("--mean takes three numbers"))

        let notAModel = try ToolRunner.run(["export", state, "--out", folder.path + "/s.safetensors"])
        #expect(notAModel.status == 1)
        #expect(notAModel.standardError.contains("pytorch_state_dict_f32.safetensors: metadata format is missing"))
    }
}
