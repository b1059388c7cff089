import Dispatch
import Foundation
import GlimpseImage
import GlimpseModel
import GlimpseTensor
import GlimpseSupport

/// Decoded images in, captions out: the one path every captioning command uses,
/// with the checkpoint's own preprocessing.
public struct Captioner: Sendable {
    public let checkpoint: Checkpoint
    public let decoder = ImageDecoder()

    public init(checkpoint: Checkpoint) { self.checkpoint = checkpoint }

    /// A decoded, preprocessed image, or why it failed.
    public struct Prepared: Sendable {
        public var path: String
        /// With `keepImage`: the image at the size of an attention sheet's panels
        /// (`AttentionSheet.panelImage`), all a sheet needs; never the full decoded image,
        /// which for a large photo is hundreds of megabytes.
        public var image: RGBImage?
        /// [3, S, S]
        public var input: [Float]?
        public var error: String?
    }

    public func prepare(_ path: String, keepImage: Bool = false) -> Prepared {
        do {
            let image = try decoder.decode(contentsOf: path).image
            return Prepared(path: path, image: keepImage ? AttentionSheet.panelImage(image) : nil,
                            input: checkpoint.preprocessing(image), error: nil)
        } catch {
            return Prepared(path: path, image: nil, input: nil, error: error.reasonDescription)
        }
    }

    /// Captions for prepared images (those with an input), in order.
    public func caption(_ inputs: [[Float]], options: DecodingOptions) -> [CaptionResult] {
        guard !inputs.isEmpty else { return [] }
        let size = checkpoint.preprocessing.imageSize
        return caption(images: Tensor(shape: [inputs.count, 3, size, size], scalars: inputs.flatMap { $0 }), options: options)
    }

    /// Captions for preprocessed images already in one tensor, [N, 3, S, S].
    public func caption(images: Tensor, options: DecodingOptions) -> [CaptionResult] {
        checkpoint.model.caption(images, options: options)
    }

    /// The words of a hypothesis, joined by spaces.
    public func text(_ hypothesis: CaptionHypothesis) -> String {
        checkpoint.vocabulary.decode(hypothesis.tokens).joined(separator: " ")
    }
}

