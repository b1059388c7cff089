import Foundation
import GlimpseData
import GlimpseImage
import GlimpseModel
import GlimpseTensor
import GlimpseText

/// A tiny random checkpoint (16×16 input, 4×4 attention grid) and a few test images:
/// enough to run captioning end to end in milliseconds. Captions are random words.
enum TinyModel {
    static let grid = 4

    static func write(to path: String, seed: UInt64 = 7) throws {
        let words = ["a", "dog", "cat", "red", "blue", "square", "circle", "on", "the", "grass", "sky", "big"]
        let vocabulary = try Vocabulary(tokens: Vocabulary.specialTokens + words)
        var generator = SeededGenerator(seed: seed)
        let configuration = try ModelConfiguration(vocabularySize: vocabulary.count, imageSize: 16, stageChannels: [4, 8],
                                               embeddingSize: 8, attentionSize: 8, hiddenSize: 8)
        let model = CaptioningModel(configuration: configuration, using: &generator)
        try Checkpoint(model: model, vocabulary: vocabulary, preprocessing: Preprocessing(imageSize: 16)).write(to: path)
    }

    /// A striped image so different images give different inputs.
    static func image(width: Int, height: Int, seed: Int) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let offset = 3 * (y * width + x)
                pixels[offset] = UInt8((x * 7 + seed * 40) & 255)
                pixels[offset + 1] = UInt8((y * 5 + seed * 90) & 255)
                pixels[offset + 2] = UInt8(((x + y) * 3 + seed * 17) & 255)
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// A scratch folder with `model.safetensors`.
    static func folder() throws -> (ScratchFolder, String) {
        let folder = try ScratchFolder()
        let model = folder.path + "/model.safetensors"
        try write(to: model)
        return (folder, model)
    }
}
