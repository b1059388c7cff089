import GlimpseLayers
import GlimpseModel
import GlimpseTensor
import Testing

@Suite("Parameter table: one listing of every checkpoint tensor")
struct ParameterTableTests {
    static let configuration = try! ModelConfiguration(vocabularySize: 9, imageSize: 8, stageChannels: [2, 3],
                                                       embeddingSize: 3, attentionSize: 3, hiddenSize: 4,
                                                       positionFeatures: true, wordLossWeight: 0.5)

    @Test("the PyTorch name is the checkpoint name, except for the training-only word detector, which has none")
    func stateDictionaryNames() {
        let table = ParameterTable(configuration: Self.configuration)
        for entry in table.entries {
            if entry.name.hasPrefix("word_detector.") {
                #expect(entry.stateDictionaryName == nil, "\(entry.name)")
            } else {
                #expect(entry.stateDictionaryName == entry.name)
            }
        }
        #expect(table.entries.filter { $0.stateDictionaryName == nil }.map(\.name) == ["word_detector.weight", "word_detector.bias"])
        #expect(table.batchesTrackedNames == ["encoder.stages.0.bn1.num_batches_tracked", "encoder.stages.0.bn2.num_batches_tracked",
                                              "encoder.stages.1.bn1.num_batches_tracked", "encoder.stages.1.bn2.num_batches_tracked"])
    }

    @Test("layouts in letters, and the tensors a state dict's sizes are read from")
    func layoutsAndTellers() {
        let table = ParameterTable(configuration: Self.configuration)
        let layouts = Dictionary(uniqueKeysWithValues: table.entries.map { ($0.name, $0.layoutDescription) })
        #expect(layouts["encoder.stages.1.conv1.weight"] == "[C, C_in, 3, 3]")
        #expect(layouts["decoder.lstm.weight_ih"] == "[4H, E + D]")
        #expect(layouts["decoder.attention.full_att.weight"] == "[1, A]")
        #expect(layouts["decoder.f_beta.weight"] == "[D, H]")
        let tellers = table.entries.filter { !$0.tells.isEmpty }.map(\.name)
        #expect(tellers == ["encoder.stages.0.conv1.weight", "encoder.stages.1.conv1.weight", "decoder.embedding.weight",
                            "decoder.attention.encoder_att.weight", "decoder.init_h.weight", "decoder.fc.weight"])
        #expect(table.entries.first { $0.name == "decoder.attention.encoder_att.weight" }?.shape(in: Self.configuration) == [3, 5])
    }

    @Test("the parts' parameter and buffer paths are the model's, without the part's prefix, and reach the same tensors")
    func partsAgreeWithTheModel() {
        var model = ModelFixtures.model(Self.configuration, seed: 5)
        let modelNames = model.parameterPaths.map(\.name)
        #expect(model.encoder.parameterPaths.map { "encoder." + $0.name } + model.decoder.parameterPaths.map { "decoder." + $0.name }
            + ["word_detector.weight", "word_detector.bias"] == modelNames)
        #expect(model.encoder.bufferPaths.map { "encoder." + $0.name } == model.bufferPaths.map(\.name))
        #expect(model.encoder.stages[1].parameterPaths.map { "encoder.stages.1." + $0.name }
            == modelNames.filter { $0.hasPrefix("encoder.stages.1.") })
        // A value written through the part's path is read back through the model's.
        let decoderPath = model.decoder.parameterPaths.first { $0.name == "f_beta.bias" }!
        model.decoder[keyPath: decoderPath.parameter] = Tensor(shape: [5], scalars: [1, 2, 3, 4, 5])
        let modelPath = model.parameterPaths.first { $0.name == "decoder.f_beta.bias" }!
        #expect(model[keyPath: modelPath.parameter].scalars == [1, 2, 3, 4, 5])
        #expect(model.decoder.attention.gate.bias?.scalars == [1, 2, 3, 4, 5])
    }
}
