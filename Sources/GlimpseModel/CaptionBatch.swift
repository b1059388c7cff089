import GlimpseText
import GlimpseTensor

/// A training minibatch: N images and any number of captions, each naming its image.
/// The encoder runs once per image however many captions the image has.
///
/// A batch may instead carry the images' encoder features (`init(features:captions:)`), read
/// from a feature cache: a model with a frozen pretrained encoder then trains and validates
/// its decoder without running the encoder again.
public struct CaptionBatch: Sendable {
    /// [N, 3, S, S], planar, as `Preprocessing` writes them; or, when `isEncoded`, the
    /// images' cached encoder inputs (`init(features:captions:)`).
    public var images: Tensor
    public var captions: [Caption]
    /// Whether `images` holds encoder features rather than pixels.
    public private(set) var isEncoded = false

    /// One caption: its words' ids w1 … wn, without `<start>`, `<end>` or padding
    /// (the model adds the first two and needs none of the third).
    public struct Caption: Sendable, Equatable {
        /// Index into the batch's images.
        public var imageIndex: Int
        /// Word ids (≥ 3: words or `<unk>`).
        public var tokens: [Int32]

        public init(imageIndex: Int, tokens: [Int32]) {
            self.imageIndex = imageIndex
            self.tokens = tokens
        }

        /// Decoder steps: the n words and `<end>`.
        public var stepCount: Int { tokens.count + 1 }
    }

    public init(images: Tensor, captions: [Caption]) {
        precondition(images.rank == 4 && images.shape[1] == 3, "batch images must be [N, 3, S, S], got \(images.shape)")
        for (index, caption) in captions.enumerated() {
            precondition(caption.imageIndex >= 0 && caption.imageIndex < images.shape[0],
                         "caption \(index) names image \(caption.imageIndex) of \(images.shape[0])")
            precondition(!caption.tokens.contains { $0 == Vocabulary.padID || $0 == Vocabulary.startID || $0 == Vocabulary.endID },
                         "caption \(index) contains <pad>, <start> or <end>; give the words only")
        }
        self.images = images
        self.captions = captions
    }

    /// A batch of already-encoded images, as `CaptioningModel.cachedInputs(of:)` gives them:
    /// features [N, P, D] of a frozen pretrained encoder, or, for a model whose encoder's last
    /// stages train, those stages' input [N, C, h, h].
    public init(features: Tensor, captions: [Caption]) {
        precondition(features.rank == 3 || features.rank == 4, "batch features must be [N, P, D] or [N, C, h, h], got \(features.shape)")
        self.init(images: Tensor(zeros: [features.shape[0], 3, 1, 1]), captions: captions)
        images = features
        isEncoded = true
    }

    /// N
    public var imageCount: Int { images.shape[0] }

    /// The total number of predicted tokens (words plus one `<end>` per caption).
    public var tokenCount: Int { captions.reduce(0) { $0 + $1.stepCount } }
}

/// How a batch's captions are laid out for the decoder, as PyTorch's
/// `pack_padded_sequence` does: captions sorted by length, longest first (ties keep
/// their batch order), and steps packed time-major. At step t the first
/// `batchSizes[t]` sorted rows are active; packed row `offsets[t] + r` is sorted row
/// r at step t.
public struct PackedLayout: Sendable, Equatable {
    /// Sorted row → caption index in the batch.
    public let order: [Int]
    /// Sorted row → image index.
    public let rowImages: [Int]
    /// B_t: rows active at step t (non-increasing), T entries.
    public let batchSizes: [Int]
    /// First packed row of step t; `offsets[T]` is the total token count.
    public let offsets: [Int]

    public init(captions: [CaptionBatch.Caption]) {
        let order = captions.indices.sorted {
            let (left, right) = (captions[$0].stepCount, captions[$1].stepCount)
            return left != right ? left > right : $0 < $1
        }
        self.order = order
        rowImages = order.map { captions[$0].imageIndex }
        let steps = order.first.map { captions[$0].stepCount } ?? 0
        var batchSizes = [Int](repeating: 0, count: steps)
        for caption in captions {
            for step in 0..<caption.stepCount { batchSizes[step] += 1 }
        }
        self.batchSizes = batchSizes
        var offsets = [0]
        for size in batchSizes { offsets.append(offsets.last! + size) }
        self.offsets = offsets
    }

    /// T
    public var stepCount: Int { batchSizes.count }
    /// Σ B_t
    public var tokenCount: Int { offsets.last ?? 0 }
}
