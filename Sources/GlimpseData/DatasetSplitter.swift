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
        var value: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            value ^= UInt64(byte)
            value &*= 0x0000_0100_0000_01B3
        }
        var z = value ^ (seed &+ 0x9E37_79B9_7F4A_7C15)
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
