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

    /// Captions for preprocessed images already in one tensor, [N, 3, S, S], each with its
    /// familiarity when the model has a feature summary.
    public func caption(images: Tensor, options: DecodingOptions) -> [CaptionResult] {
        caption(features: checkpoint.model.features(of: images), options: options)
    }

    /// Captions for the encoder's features [N, P, D] of images (`CaptioningModel.features(of:)`).
    public func caption(features: Tensor, options: DecodingOptions) -> [CaptionResult] {
        let model = checkpoint.model
        var results = model.search(model.encode(features: features), options: options)
        if let summary = checkpoint.featureSummary {
            for (index, familiarity) in summary.familiarity(of: features).enumerated() { results[index].familiarity = familiarity }
        }
        return results
    }

    /// The words of a hypothesis, joined by spaces.
    public func text(_ hypothesis: CaptionHypothesis) -> String {
        checkpoint.vocabulary.decode(hypothesis.tokens).joined(separator: " ")
    }
}


extension Captioner {
    /// The encoder's features [n, P, D] of image files, `batchSize` files at a time in order, decoded
    /// on `workers` threads; a file that cannot be read goes to `unreadable` with the reason.
    public func forEachFeatures(ofFiles paths: [String], batchSize: Int, workers: Int,
                                unreadable: (String, String) -> Void, _ body: (Tensor) throws -> Void) rethrows {
        let captioner = self
        let pipeline = PreparationPipeline(source: AnyIterator(paths.map { (path: $0, tag: ()) }.makeIterator()),
                                           capacity: 2 * max(1, batchSize), workers: workers,
                                           prepare: { captioner.prepare($0) })
        let size = checkpoint.preprocessing.imageSize
        var inputs: [[Float]] = []
        func flush() throws {
            guard !inputs.isEmpty else { return }
            try body(checkpoint.model.features(of: Tensor(shape: [inputs.count, 3, size, size], scalars: inputs.flatMap { $0 })))
            inputs.removeAll(keepingCapacity: true)
        }
        while let item = pipeline.next() {
            if let input = item.prepared.input { inputs.append(input) } else { unreadable(item.path, item.prepared.error ?? "unreadable") }
            if inputs.count == max(1, batchSize) { try flush() }
        }
        try flush()
    }

    /// A feature summary (`FeatureSummary`) of this model on image files: the mean and variance
    /// measured on `training`, the threshold set on `heldOut` (images of the same kind, not among
    /// them).
    public func featureSummary(training: [String], heldOut: [String], batchSize: Int = 32, workers: Int,
                               quantile: Double = FeatureSummary.defaultQuantile,
                               unreadable: (String, String) -> Void = { _, _ in },
                               progress: (Int) -> Void = { _ in }) throws(FeatureSummary.Failure) -> FeatureSummary {
        var accumulator = FeatureSummary.Accumulator(featureSize: checkpoint.model.configuration.featureSize)
        var done = 0
        forEachFeatures(ofFiles: training, batchSize: batchSize, workers: workers, unreadable: unreadable) {
            accumulator.add($0)
            done += $0.shape[0]
            progress(done)
        }
        var heldOutFeatures: [Tensor] = []
        forEachFeatures(ofFiles: heldOut, batchSize: batchSize, workers: workers, unreadable: unreadable) {
            heldOutFeatures.append(FeatureSummary.locationAverages($0))
            done += $0.shape[0]
            progress(done)
        }
        return try FeatureSummary.calibrated(accumulator, heldOut: heldOutFeatures, quantile: quantile)
    }
}
