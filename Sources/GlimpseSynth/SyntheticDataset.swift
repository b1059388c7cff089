import Foundation
import GlimpseImage
import GlimpseSupport
import GlimpseTensor

/// Writes a synthetic captioned dataset in the Flickr8k Kaggle layout:
/// `OUT/Images/synth-000001.jpg` (JPEG or PNG, varying size and aspect ratio) and
/// `OUT/captions.txt` (CSV, header `image,caption`, five captions per image), and beside
/// them `OUT/ground_truth.jsonl`: each image's objects and relation, from the same scene the
/// captions describe (`GroundTruthFile`).
///
/// Image `i` depends only on the seed and `i`, so a larger `count` with the same
/// seed extends a dataset rather than changing it.
public struct SyntheticDataset: Sendable {
    public var count: Int
    public var seed: UInt64
    /// Share of images written as PNG; the rest are JPEG.
    public var pngShare: Double = 0.3
    public var generator = SceneGenerator()

    public init(count: Int, seed: UInt64) {
        precondition(count >= 0, "count must not be negative")
        self.count = count
        self.seed = seed
    }

    /// One item: the scene, its captions, and the file name it is written under.
    public struct Item: Sendable {
        public var fileName: String
        public var scene: Scene
        public var captions: [String]
        public var isPNG: Bool
        public var jpegQuality: Int

        /// What the image shows, from the scene its captions were written from.
        public var groundTruth: GroundTruth { GroundTruth(image: fileName, scene: scene) }
    }

    public func item(_ index: Int) -> Item {
        var random = SeededGenerator(seed: Self.mix(seed, UInt64(index)))
        let scene = generator.scene(using: &random)
        let isPNG = Double(random.next() >> 11) * 0x1p-53 < pngShare
        let quality = 80 + Int(random.next() % 16)
        let name = String(format: "synth-%06d.%@", index + 1, isPNG ? "png" : "jpg")
        return Item(fileName: name, scene: scene, captions: generator.captions(for: scene), isPNG: isPNG,
                    jpegQuality: quality)
    }

    /// Writes the dataset; `progress(done, total)` after each image.
    public func write(to folder: String, progress: ((Int, Int) -> Void)? = nil) throws(SyntheticDatasetError) {
        let images = folder + "/Images"
        do {
            try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
        } catch {
            throw SyntheticDatasetError(path: images, reason: (error as NSError).localizedDescription)
        }
        var csv = "image,caption\n", truth = ""
        for index in 0..<count {
            let item = item(index)
            let image = SceneRenderer.render(item.scene)
            let path = images + "/" + item.fileName
            do {
                if item.isPNG {
                    try PNGWriter.write(image, to: path)
                } else {
                    try JPEGWriter.write(image, to: path, quality: item.jpegQuality)
                }
            } catch {
                throw SyntheticDatasetError(path: path, reason: error.message)
            }
            for caption in item.captions { csv += item.fileName + "," + Self.csvField(caption) + "\n" }
            truth += GroundTruthFile.line(item.groundTruth) + "\n"
            progress?(index + 1, count)
        }
        // The ground truth first: a dataset whose captions exist always has it.
        let truthPath = folder + "/" + GroundTruthFile.fileName
        do {
            try FileBytes.writeAtomically(Array(truth.utf8), to: truthPath)
        } catch {
            throw SyntheticDatasetError(path: truthPath, reason: error.message)
        }
        do {
            try FileBytes.writeAtomically(Array(csv.utf8), to: folder + "/captions.txt")
        } catch {
            throw SyntheticDatasetError(path: folder + "/captions.txt", reason: error.message)
        }
    }

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// SplitMix64's finaliser over seed and index: independent streams per image.
    static func mix(_ seed: UInt64, _ index: UInt64) -> UInt64 {
        SplitMix64.mix(seed &+ SplitMix64.increment &* (index &+ 1))
    }
}

public struct SyntheticDatasetError: Error, Equatable, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): cannot write the synthetic dataset: \(reason)" }
}
