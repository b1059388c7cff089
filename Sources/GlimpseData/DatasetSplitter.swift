import GlimpseSupport

/// Splits images that came without splits: deterministic, by image (so the captions
/// of one image never straddle train and test), seeded.
///
/// Each image id is hashed with the seed; images are ordered by that hash and the
/// first 90% (by default) go to training, the next 5% to validation, the rest to
/// test. An image's rank depends only on its id and the seed, so the split does not
/// depend on the order the dataset lists its images in.
public struct DatasetSplitter: Sendable, Equatable {
    public var validationFraction: Double
    public var testFraction: Double
    public var seed: UInt64

    public init(validationFraction: Double = 0.05, testFraction: Double = 0.05, seed: UInt64 = 0) {
        precondition(validationFraction >= 0 && testFraction >= 0 && validationFraction + testFraction < 1,
                     "split fractions must be non-negative and leave room for training")
        self.validationFraction = validationFraction
        self.testFraction = testFraction
        self.seed = seed
    }

    /// Assigns a split to every image, in place.
    public func assign(_ images: inout [DatasetImage]) {
        let count = images.count
        // At least one validation and one test image once there are three images,
        // so that validation and evaluation always have something to run on.
        var validationCount = Int((Double(count) * validationFraction).rounded())
        var testCount = Int((Double(count) * testFraction).rounded())
        if count >= 3 {
            if validationFraction > 0 { validationCount = max(validationCount, 1) }
            if testFraction > 0 { testCount = max(testCount, 1) }
        }
        let order = images.indices.sorted {
            let left = Self.hash(images[$0].id, seed: seed), right = Self.hash(images[$1].id, seed: seed)
            return left != right ? left < right : images[$0].id < images[$1].id
        }
        for (rank, index) in order.enumerated() {
            if rank < count - validationCount - testCount {
                images[index].split = .train
            } else if rank < count - testCount {
                images[index].split = .validation
            } else {
                images[index].split = .test
            }
        }
    }

    /// FNV-1a over the UTF-8 bytes, mixed with the seed by SplitMix64's finaliser.
    static func hash(_ text: String, seed: UInt64) -> UInt64 {
        SplitMix64.mix(FNV1a.hash(text.utf8) ^ (seed &+ SplitMix64.increment))
    }
}
