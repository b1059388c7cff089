import GlimpseData
import GlimpseImage
import GlimpseModel
import GlimpseSupport
import GlimpseTensor

/// Where training reads each image's model input, filled before the first step: the image
/// cache's resized pixels (the small CNN, trained with the decoder), a pretrained encoder's
/// cached features or trainable stages' input (no epoch runs its frozen part), or larger
/// pixels to crop and flip at random (`Augmentation`, for a model whose encoder's last
/// stages train).
public enum TrainingInputs: Sendable {
    case pixels(ImageCache)
    case features(FeatureCache)
    /// The cache holds each image resized and centre-cropped to R' × R' (R' ≥ S,
    /// `TrainingOptions.augmentationSource`); training batches crop them at random to S × S and
    /// flip them, validation crops the centre, exactly as the model's preprocessing does.
    case augmentedPixels(ImageCache, Augmentation)

    /// The model's preprocessing (what `caption` will do to an image).
    public var preprocessing: Preprocessing {
        switch self {
        case .pixels(let cache): return cache.preprocessing
        case .features(let cache): return cache.preprocessing
        case .augmentedPixels(_, let augmentation): return augmentation.preprocessing
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
        case .pixels(let cache), .augmentedPixels(let cache, _): return cache.directory
        case .features(let cache): return cache.slots.directory
        }
    }

    /// Bytes one image takes in the cache.
    public var bytesPerImage: Int {
        switch self {
        case .pixels(let cache), .augmentedPixels(let cache, _): return cache.slotBytes
        case .features(let cache): return cache.slots.slotBytes
        }
    }

    /// Whether the cache holds `path` as it is on disk now.
    public func contains(_ path: String) -> Bool {
        switch self {
        case .pixels(let cache), .augmentedPixels(let cache, _): return cache.contains(path)
        case .features(let cache): return cache.contains(path)
        }
    }

    /// Whether the cache has an input for `path` (as of its last fill).
    public func holds(_ path: String) -> Bool {
        switch self {
        case .pixels(let cache), .augmentedPixels(let cache, _): return cache.pixels(for: path) != nil
        case .features(let cache): return cache.features(for: path) != nil
        }
    }

    /// Makes the inputs of every file in `paths` the cache does not hold yet.
    public func fill(_ paths: [String], threads: Int, progress: ((Int, Int) -> Void)? = nil) throws(ImageCacheError) -> SlotCache.FillReport {
        switch self {
        case .pixels(let cache), .augmentedPixels(let cache, _): return try cache.fill(paths, threads: threads, progress: progress)
        case .features(let cache): return try cache.fill(paths, threads: threads, progress: progress)
        }
    }

    /// A batch of the images at `paths` (each held): normalised pixels [N, 3, S, S], or
    /// the cached encoder inputs (features [N, P, D], or [N, C, h, h]), with `captions` naming
    /// them by position in `paths`. Augmented pixels are cropped and flipped as `augmentationSeed`
    /// draws them (the same seed, the same batch), or centre-cropped without one; `positions`: the
    /// places of `paths` in the batch the seed draws for (a rank's share of it), nil: 0, 1, 2, ….
    public func batch(_ paths: [String], captions: [CaptionBatch.Caption], augmentationSeed: UInt64? = nil,
                      positions: [Int]? = nil) -> CaptionBatch {
        switch self {
        case .augmentedPixels(let cache, let augmentation):
            return CaptionBatch(images: augmentation.crops(paths.map { cache.pixels(for: $0) }, side: cache.imageSize,
                                                           seed: augmentationSeed, positions: positions),
                                captions: captions)
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
            let width = cache.inputShape.reduce(1, *)
            let features = Tensor(shape: [paths.count] + cache.inputShape) { output in
                for (slot, path) in paths.enumerated() {
                    guard let source = cache.features(for: path) else { continue }
                    (output.baseAddress! + slot * width).update(from: source.baseAddress!, count: width)
                }
            }
            return CaptionBatch(features: features, captions: captions)
        }
    }
}

/// Random crops and horizontal flips of cached R × R pixels, the augmentation of a run whose
/// encoder's last stages train (torchvision's RandomCrop(S) and RandomHorizontalFlip() after
/// Resize(R) + CenterCrop(R)).
public struct Augmentation: Sendable {
    /// The model's own preprocessing, S × S: its mean and std normalise the crops.
    public let preprocessing: Preprocessing
    /// The run's seed, mixed with each batch's place in the run.
    public let seed: UInt64

    public init(preprocessing: Preprocessing, seed: UInt64) {
        self.preprocessing = preprocessing
        self.seed = seed
    }

    /// The seed of the training batch at (epoch, batch index): the same on every resume.
    public func batchSeed(epoch: Int, batchIndex: Int) -> UInt64 {
        SplitMix64.mix(seed ^ SplitMix64.mix(UInt64(epoch) &* 0x1_0000_0001 &+ UInt64(batchIndex)))
    }

    /// The crop of each image that `seed` draws: its origin in 0 … R − S along each axis, and a
    /// flip with probability ½, in that order per image; without a seed the centre, unflipped
    /// (the origin `Preprocessing` crops at). A missing image is left zero. `positions`: the place of
    /// each image in the batch `seed` draws for (nil: 0, 1, 2, …); the draws of the others are skipped.
    public func crops(_ images: [UnsafeBufferPointer<UInt8>?], side: Int, seed: UInt64?, positions: [Int]? = nil) -> Tensor {
        let size = preprocessing.imageSize, plane = 3 * size * size, room = side - size
        precondition(room >= 0, "augmentation crops \(size) pixels out of \(side)")
        let positions = positions ?? Array(images.indices)
        precondition(positions.count == images.count && zip(positions, positions.dropFirst()).allSatisfy { $0 < $1 },
                     "one increasing position per image")
        // Three draws per image of the whole batch, in order: origin x, origin y, flip.
        var draws: [(left: Int, top: Int, flipped: Bool)] = []
        if let seed {
            var random = SplitMix64(seed: seed)
            for _ in 0..<(positions.last.map { $0 + 1 } ?? 0) {
                draws.append((Int(random.next() % UInt64(room + 1)), Int(random.next() % UInt64(room + 1)), random.next() & 1 == 1))
            }
        }
        let centre = Preprocessing.centerCropOrigin(width: side, height: side, crop: size).x
        var crop = [UInt8](repeating: 0, count: 3 * size * size)
        return Tensor(shape: [images.count, 3, size, size]) { output in
            for (slot, source) in images.enumerated() {
                let (left, top, flipped) = draws.isEmpty ? (centre, centre, false) : draws[positions[slot]]
                guard let source else { continue }
                for row in 0..<size {
                    let from = ((top + row) * side + left) * 3
                    for column in 0..<size {
                        let to = (row * size + (flipped ? size - 1 - column : column)) * 3
                        crop[to] = source[from + 3 * column]
                        crop[to + 1] = source[from + 3 * column + 1]
                        crop[to + 2] = source[from + 3 * column + 2]
                    }
                }
                crop.withUnsafeBufferPointer { crop in
                    preprocessing.normalize(resizedPixels: crop,
                                            into: UnsafeMutableBufferPointer(rebasing: output[(slot * plane)..<((slot + 1) * plane)]))
                }
            }
        }
    }
}
