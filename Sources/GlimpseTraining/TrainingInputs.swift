import GlimpseData
import GlimpseImage
import GlimpseModel
import GlimpseTensor

/// Where training reads each image's model input, filled before the first step: the image
/// cache's resized pixels (the small CNN, trained with the decoder), or a frozen pretrained
/// encoder's cached features (only the decoder trains, and no epoch runs the encoder).
public enum TrainingInputs: Sendable {
    case pixels(ImageCache)
    case features(FeatureCache)

    public var preprocessing: Preprocessing {
        switch self {
        case .pixels(let cache): return cache.preprocessing
        case .features(let cache): return cache.preprocessing
        }
    }

    /// Whether the cache holds a pretrained encoder's features rather than pixels.
    public var holdsFeatures: Bool {
        if case .features = self { return true }
        return false
    }

    /// The folder the cache files are in.
    public var directory: String {
        switch self {
        case .pixels(let cache): return cache.directory
        case .features(let cache): return cache.slots.directory
        }
    }

    /// Bytes one image takes in the cache.
    public var bytesPerImage: Int {
        switch self {
        case .pixels(let cache): return cache.slotBytes
        case .features(let cache): return cache.slots.slotBytes
        }
    }

    /// Whether the cache holds `path` as it is on disk now.
    public func contains(_ path: String) -> Bool {
        switch self {
        case .pixels(let cache): return cache.contains(path)
        case .features(let cache): return cache.contains(path)
        }
    }

    /// Whether the cache has an input for `path` (as of its last fill).
    public func holds(_ path: String) -> Bool {
        switch self {
        case .pixels(let cache): return cache.pixels(for: path) != nil
        case .features(let cache): return cache.features(for: path) != nil
        }
    }

    /// Makes the inputs of every file in `paths` the cache does not hold yet.
    public func fill(_ paths: [String], threads: Int, progress: ((Int, Int) -> Void)? = nil) throws(ImageCacheError) -> SlotCache.FillReport {
        switch self {
        case .pixels(let cache): return try cache.fill(paths, threads: threads, progress: progress)
        case .features(let cache): return try cache.fill(paths, threads: threads, progress: progress)
        }
    }

    /// A batch of the images at `paths` (each held): normalised pixels [N, 3, S, S], or
    /// features [N, P, D], with `captions` naming them by position in `paths`.
    public func batch(_ paths: [String], captions: [CaptionBatch.Caption]) -> CaptionBatch {
        switch self {
        case .pixels(let cache):
            let size = cache.imageSize, plane = 3 * size * size
            var pixels = [Float](repeating: 0, count: paths.count * plane)
            pixels.withUnsafeMutableBufferPointer { output in
                for (slot, path) in paths.enumerated() {
                    guard let source = cache.pixels(for: path) else { continue }
                    cache.preprocessing.normalize(resizedPixels: source,
                                                  into: UnsafeMutableBufferPointer(rebasing: output[(slot * plane)..<((slot + 1) * plane)]))
                }
            }
            return CaptionBatch(images: Tensor(shape: [paths.count, 3, size, size], scalars: pixels), captions: captions)
        case .features(let cache):
            let width = cache.locationCount * cache.featureSize
            let features = Tensor(shape: [paths.count, cache.locationCount, cache.featureSize]) { output in
                for (slot, path) in paths.enumerated() {
                    guard let source = cache.features(for: path) else { continue }
                    (output.baseAddress! + slot * width).update(from: source.baseAddress!, count: width)
                }
            }
            return CaptionBatch(features: features, captions: captions)
        }
    }
}
