import Foundation
import GlimpseData
import GlimpseLayers
import GlimpseModel
import GlimpseSafeTensors
import GlimpseTensor
import GlimpseText

/// Small models and batches shared by the suites.
enum ModelFixtures {
    /// Fixtures/ beside this file (excluded from the target; found through #filePath).
    static func fixturePath(_ name: String, file: String = #filePath) -> String {
        URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent("Fixtures").appendingPathComponent(name).path
    }

    /// S 8, stages [2, 3] (g 2, P 4, D 3), E 3, A 3, H 4, V 9.
    static func tinyConfiguration(dropout: Float = 0, lambda: Float = 1) -> ModelConfiguration {
        try! ModelConfiguration(vocabularySize: 9, imageSize: 8, stageChannels: [2, 3], embeddingSize: 3,
                                attentionSize: 3, hiddenSize: 4, dropout: dropout, attentionRegularization: lambda)
    }

    /// A model whose BatchNorm layers have non-trivial affine parameters and running statistics.
    static func model(_ configuration: ModelConfiguration, seed: UInt64) -> CaptioningModel {
        var generator = SeededGenerator(seed: seed)
        var model = CaptioningModel(configuration: configuration, using: &generator)
        for path in model.bufferPaths {
            let shape = model[keyPath: path.buffer].shape
            model[keyPath: path.buffer] = path.name.hasSuffix("running_var")
                ? Tensor(randomUniform: shape, in: 0.5..<1.5, using: &generator)
                : Tensor(randomNormal: shape, standardDeviation: 0.1, using: &generator)
        }
        for path in model.parameterPaths where path.name.contains(".bn") {
            let shape = model[keyPath: path.parameter].shape
            model[keyPath: path.parameter] = path.name.hasSuffix("weight")
                ? Tensor(randomUniform: shape, in: 0.5..<1.5, using: &generator)
                : Tensor(randomNormal: shape, standardDeviation: 0.1, using: &generator)
        }
        return model
    }

    /// `imageCount` images and captions of the given word counts, naming images round-robin
    /// unless `imageIndices` says otherwise.
    static func batch(_ configuration: ModelConfiguration, imageCount: Int, lengths: [Int], imageIndices: [Int]? = nil,
                      seed: UInt64) -> CaptionBatch {
        var generator = SeededGenerator(seed: seed)
        let size = configuration.imageSize
        let images = Tensor(randomNormal: [imageCount, 3, size, size], using: &generator)
        let captions = lengths.enumerated().map { index, length in
            CaptionBatch.Caption(imageIndex: imageIndices?[index] ?? index % imageCount,
                                 tokens: (0..<length).map { _ in Int32(3 + generator.nextIndex(below: configuration.vocabularySize - 3)) })
        }
        return CaptionBatch(images: images, captions: captions)
    }

    /// A vocabulary of V tokens.
    static func vocabulary(size: Int) -> Vocabulary {
        try! Vocabulary(tokens: Vocabulary.specialTokens + (0..<(size - 4)).map { "word\($0)" })
    }
}

extension CaptioningModel.Gradients {
    /// Gradient tensors by parameter name.
    func named(for model: CaptioningModel) -> [(name: String, tensor: Tensor)] {
        model.parameterPaths.map { ($0.name, self[keyPath: $0.gradient]) }
    }
}
