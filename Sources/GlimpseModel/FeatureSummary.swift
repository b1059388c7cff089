import Foundation
import GlimpseSafeTensors
import GlimpseTensor

/// What the encoder's features of a model's training images look like, kept in the model file so
/// that an image unlike them is flagged as unfamiliar: its caption is then likely wrong, however
/// fluent (the shipped model, trained on synthetic shapes, calls a photograph of a cat "a large
/// black star …", and its log-probability does not tell).
///
/// Each image is summarised by its features averaged over the P grid locations, a D-vector x.
/// Over the training images x has a mean μ and a covariance Σ; an image's distance is the squared
/// Mahalanobis distance per channel,
///
///     d(x) = (x − μ)ᵀ Σ'⁻¹ (x − μ) / D = |W (x − μ)|² / D,
///
/// about 1 for a typical training image, where Σ' = (1 − s) Σ + s (tr Σ / D) I is Σ shrunk
/// towards its average variance (s = `shrinkage`, so channels that never vary in training, a
/// ReLU that never fires or the position features' constant means, still divide by something)
/// and W = L⁻¹ for the Cholesky factor Σ' = L Lᵀ. The covariance matters: the shipped model's
/// features of photographs often lie within each channel's own range, but not in the
/// combinations its training images show (on the 21 sample photographs: 18 flagged by the
/// per-channel variances alone, 20 with Σ). `threshold` is the `quantile` of the distances of
/// held-out images of the training domain (images the moments were not measured on), so about
/// 1 − quantile of fresh in-domain images are flagged.
public struct FeatureSummary: Equatable, Sendable {
    /// μ, [D].
    public var mean: [Float]
    /// W, [D, D] row-major, lower triangular: W Σ' Wᵀ = I.
    public var whitening: [Float]
    public var calibration: Calibration

    /// What a model file keeps as metadata (μ and W are tensors).
    public struct Calibration: Codable, Equatable, Sendable {
        /// Images the mean and covariance were measured on.
        public var imageCount: Int
        /// s, the covariance's shrinkage towards its average variance.
        public var shrinkage: Double
        /// Distances above this are unfamiliar.
        public var threshold: Float
        /// Held-out images the threshold was set on.
        public var heldOutImageCount: Int
        /// The share of those held-out images at or below `threshold`.
        public var quantile: Double
    }

    /// Shrinkage of Σ: small, because the covariance is what tells photographs apart (on the
    /// sample photographs, 20 of 21 flagged at 0.001 and 0.01, 18 at 0.1).
    public static let defaultShrinkage = 0.001
    /// The share of held-out in-domain images a summary passes by default: about 1% of fresh
    /// in-domain images are flagged.
    public static let defaultQuantile = 0.99

    public init(mean: [Float], whitening: [Float], calibration: Calibration) {
        precondition(whitening.count == mean.count * mean.count, "a whitening of \(whitening.count) for D = \(mean.count)")
        self.mean = mean
        self.whitening = whitening
        self.calibration = calibration
    }

    /// Images to measure on and images to set the threshold on, when only one set is at hand:
    /// every fifth held out (`glimpse calibrate` without --held-out, training without validation images).
    public static func holdingOutEveryFifth<Item>(_ items: [Item]) -> (measured: [Item], heldOut: [Item]) {
        (items.enumerated().filter { $0.offset % 5 != 4 }.map(\.element), stride(from: 4, to: items.count, by: 5).map { items[$0] })
    }

    /// D, the feature size this summary is of.
    public var featureSize: Int { mean.count }

    /// d(x) of each image's features [N, P, D].
    public func distances(of features: Tensor) -> [Float] {
        precondition(features.rank == 3 && features.shape[2] == featureSize,
                     "features must be [N, P, \(featureSize)], got \(features.shape)")
        let count = features.shape[0], size = featureSize
        guard count > 0 else { return [] }
        var deviations = Self.pooled(features)
        deviations.withUnsafeMutableBufferPointer { rows in
            for image in 0..<count {
                for channel in 0..<size { rows[image * size + channel] -= mean[channel] }
            }
        }
        // Z = Y Wᵀ: row n is W (x_n − μ).
        let whitened = Tensor.matmul(Tensor(shape: [count, size], scalars: deviations),
                                     Tensor(shape: [size, size], scalars: whitening), transposeB: true)
        return whitened.withUnsafeBufferPointer { rows in
            (0..<count).map { image in
                var sum: Float = 0
                for channel in 0..<size { sum += rows[image * size + channel] * rows[image * size + channel] }
                return sum / Float(size)
            }
        }
    }

    /// How familiar each image of features [N, P, D] is.
    public func familiarity(of features: Tensor) -> [Familiarity] {
        distances(of: features).map { Familiarity(distance: $0, threshold: calibration.threshold) }
    }

    /// Features [N, P, D] averaged over their P locations, as [N, 1, D]: all a summary uses of
    /// them, so held-out images can be kept for calibration at 1/P of the memory.
    public static func locationAverages(_ features: Tensor) -> Tensor {
        Tensor(shape: [features.shape[0], 1, features.shape[2]], scalars: pooled(features))
    }

    /// Each image's features averaged over its P locations, [N × D] row-major.
    static func pooled(_ features: Tensor) -> [Float] {
        let (count, locations, size) = (features.shape[0], features.shape[1], features.shape[2])
        var pooled = [Float](repeating: 0, count: count * size)
        features.withUnsafeBufferPointer { values in
            pooled.withUnsafeMutableBufferPointer { pooled in
                for image in 0..<count {
                    let target = pooled.baseAddress! + image * size
                    for location in 0..<locations {
                        let row = values.baseAddress! + (image * locations + location) * size
                        for channel in 0..<size { target[channel] += row[channel] }
                    }
                    for channel in 0..<size { target[channel] /= Float(locations) }
                }
            }
        }
        return pooled
    }

    /// The mean and covariance of the pooled features of any number of images, fed a batch at a
    /// time. Features are taken relative to the first batch's mean, so that the float32 sums of
    /// products (one `sgemm` per batch) do not cancel catastrophically.
    public struct Accumulator: Sendable {
        public let featureSize: Int
        public private(set) var count = 0
        /// c, [D]: the first batch's mean, which every feature is taken relative to.
        private var shift: [Float] = []
        /// Σ (x − c), [D], in float64.
        private var sum: [Double]
        /// Σ (x − c)(x − c)ᵀ, [D × D] row-major, in float64: each batch's float32 product is
        /// added here, so rounding does not build up over thousands of images.
        private var scatter: [Double]

        public init(featureSize: Int) {
            self.featureSize = featureSize
            sum = [Double](repeating: 0, count: featureSize)
            scatter = [Double](repeating: 0, count: featureSize * featureSize)
        }

        /// Adds the images of features [N, P, D].
        public mutating func add(_ features: Tensor) {
            precondition(features.rank == 3 && features.shape[2] == featureSize,
                         "features must be [N, P, \(featureSize)], got \(features.shape)")
            let batch = features.shape[0], size = featureSize
            guard batch > 0 else { return }
            var rows = FeatureSummary.pooled(features)
            if shift.isEmpty {
                shift = (0..<size).map { channel in (0..<batch).reduce(Float(0)) { $0 + rows[$1 * size + channel] } / Float(batch) }
            }
            for image in 0..<batch {
                for channel in 0..<size {
                    rows[image * size + channel] -= shift[channel]
                    sum[channel] += Double(rows[image * size + channel])
                }
            }
            let centred = Tensor(shape: [batch, size], scalars: rows)
            let product = Tensor.matmul(centred, centred, transposeA: true)
            product.withUnsafeBufferPointer { product in
                scatter.withUnsafeMutableBufferPointer { scatter in
                    for index in 0..<(size * size) { scatter[index] += Double(product[index]) }
                }
            }
            count += batch
        }

        /// μ and Σ (population covariance, [D × D] row-major, float64) so far; nil before any image.
        public var moments: (mean: [Double], covariance: [Double])? {
            guard count > 0 else { return nil }
            let n = Double(count), size = featureSize
            let offset = sum.map { $0 / n }
            var covariance = [Double](repeating: 0, count: size * size)
            for row in 0..<size {
                for column in 0..<size {
                    covariance[row * size + column] = scatter[row * size + column] / n - offset[row] * offset[column]
                }
            }
            return (zip(offset, shift).map { $0 + Double($1) }, covariance)
        }
    }

    /// Why no summary could be made.
    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        case noImages
        case noHeldOutImages
        /// The features of `count` images have a NaN or infinite value (a model with bad weights).
        case nonFiniteFeatures(count: Int)
        /// The covariance is not positive definite even shrunk (so far off that rounding broke it).
        case notPositiveDefinite

        public var description: String {
            switch self {
            case .noImages: return "no image to measure the features on"
            case .noHeldOutImages: return "no held-out image to set the threshold on"
            case .nonFiniteFeatures(let count):
                return "the model's features of \(count == 1 ? "1 image have" : "\(count) images have") non-finite values"
            case .notPositiveDefinite: return "the features' covariance is not positive definite, even shrunk"
            }
        }
    }

    /// A summary of the images `accumulator` saw, its threshold the `quantile` of the distances
    /// of held-out images, whose features `heldOut` yields a batch at a time.
    public static func calibrated(_ accumulator: Accumulator, heldOut: some Sequence<Tensor>,
                                  shrinkage: Double = defaultShrinkage,
                                  quantile: Double = defaultQuantile) throws(Failure) -> FeatureSummary {
        guard let (mean, covariance) = accumulator.moments else { throw .noImages }
        guard covariance.allSatisfy(\.isFinite), mean.allSatisfy(\.isFinite) else { throw .nonFiniteFeatures(count: accumulator.count) }
        guard let whitening = whitening(covariance, size: accumulator.featureSize, shrinkage: shrinkage) else {
            throw .notPositiveDefinite
        }
        var summary = FeatureSummary(
            mean: mean.map(Float.init), whitening: whitening,
            calibration: Calibration(imageCount: accumulator.count, shrinkage: shrinkage, threshold: .infinity,
                                     heldOutImageCount: 0, quantile: quantile))
        var distances: [Float] = []
        for features in heldOut { distances += summary.distances(of: features) }
        guard !distances.isEmpty else { throw .noHeldOutImages }
        let nonFinite = distances.filter { !$0.isFinite }.count
        guard nonFinite == 0 else { throw .nonFiniteFeatures(count: nonFinite) }
        distances.sort()
        // The smallest distance with at least `quantile` of the held-out ones at or below it.
        let rank = min(distances.count, max(1, Int((quantile * Double(distances.count)).rounded(.up))))
        summary.calibration.threshold = distances[rank - 1]
        summary.calibration.heldOutImageCount = distances.count
        return summary
    }

    /// L⁻¹ for the Cholesky factor L of Σ shrunk by `shrinkage`, as float32 [D × D]; nil when Σ is
    /// not finite. Shrinkage (with a floor for a Σ of zeros) keeps Σ' positive definite.
    static func whitening(_ covariance: [Double], size: Int, shrinkage: Double) -> [Float]? {
        guard covariance.allSatisfy(\.isFinite) else { return nil }
        let averageVariance = (0..<size).reduce(0.0) { $0 + covariance[$1 * size + $1] } / Double(max(1, size))
        let ridge = shrinkage * averageVariance + 1e-12
        var factor = covariance.map { $0 * (1 - shrinkage) }
        for index in 0..<size { factor[index * size + index] += ridge }
        var inverse = [Double](repeating: 0, count: size * size)
        // Raw pointers: these O(D³) loops are 20× slower with checked subscripts in a debug build.
        let positive = factor.withUnsafeMutableBufferPointer { factor in
            inverse.withUnsafeMutableBufferPointer { inverse in
                choleskyInverse(factor.baseAddress!, into: inverse.baseAddress!, size: size)
            }
        }
        return positive ? inverse.map(Float.init) : nil
    }

    /// Σ' = L Lᵀ in place in the lower triangle of `factor`, then W = L⁻¹ into `inverse` (zeroed),
    /// both [size × size] row-major; false when Σ' is not positive definite.
    private static func choleskyInverse(_ factor: UnsafeMutablePointer<Double>, into inverse: UnsafeMutablePointer<Double>,
                                        size: Int) -> Bool {
        for column in 0..<size {
            let columnRow = factor + column * size
            var diagonal = columnRow[column]
            for k in 0..<column { diagonal -= columnRow[k] * columnRow[k] }
            guard diagonal > 0 else { return false }
            let pivot = diagonal.squareRoot()
            columnRow[column] = pivot
            for row in (column + 1)..<size {
                let rowValues = factor + row * size
                var value = rowValues[column]
                for k in 0..<column { value -= rowValues[k] * columnRow[k] }
                rowValues[column] = value / pivot
            }
        }
        // W = L⁻¹ a row at a time, each from the rows above (read in order, no long dependency
        // chain): W[i, :] = (e_i − Σ_{k<i} L[i, k] W[k, :]) / L[i, i].
        for row in 0..<size {
            let target = inverse + row * size, rowValues = factor + row * size
            for k in 0..<row {
                let weight = rowValues[k], source = inverse + k * size
                for column in 0...k { target[column] -= weight * source[column] }
            }
            let pivot = rowValues[row]
            for column in 0..<row { target[column] /= pivot }
            target[row] = 1 / pivot
        }
        return true
    }
}

/// How far one image's features lie from a model's training images (`FeatureSummary`).
public struct Familiarity: Equatable, Sendable {
    /// d(x), about 1 for a typical training image.
    public var distance: Float
    /// The model's threshold: above it the image is unfamiliar.
    public var threshold: Float

    public init(distance: Float, threshold: Float) {
        self.distance = distance
        self.threshold = threshold
    }

    /// Whether the image looks unlike the model's training images (a NaN distance counts as unlike).
    public var isUnfamiliar: Bool { !(distance <= threshold) }
}

extension FeatureSummary {
    /// Where a checkpoint keeps μ and W.
    public enum TensorName {
        public static let mean = "feature_summary.mean"
        public static let whitening = "feature_summary.whitening"
    }

    /// μ and W as a checkpoint stores them.
    public var namedTensors: [String: ShapedArray<Float>] {
        [TensorName.mean: ShapedArray(shape: [featureSize], values: mean),
         TensorName.whitening: ShapedArray(shape: [featureSize, featureSize], values: whitening)]
    }
}
