import Foundation
import GlimpseImage
import GlimpseModel
import GlimpseSafeTensors
import GlimpseTensor
import Testing

/// `FeatureSummary`: the moments of pooled features, the whitening, the calibrated threshold,
/// and how a model file keeps them.
@Suite("Feature summaries")
struct FeatureSummaryTests {
    /// Features [N, P, D] whose location-average is `pooled[n]` (each location ± a spread that
    /// averages out), so tests can state the pooled vectors directly.
    static func features(_ pooled: [[Float]], locations: Int = 4) -> Tensor {
        let size = pooled[0].count
        var values: [Float] = []
        for vector in pooled {
            for location in 0..<locations {
                let spread: Float = location % 2 == 0 ? 0.5 : -0.5
                values += vector.map { $0 + (locations % 2 == 0 ? spread : 0) }
            }
        }
        return Tensor(shape: [pooled.count, locations, size], scalars: values)
    }

    /// n draws of a correlated 3-D Gaussian far from the origin (a large shared offset tests the
    /// accumulator's shift): x = offset + A z.
    static func correlatedSample(_ count: Int, seed: UInt64) -> [[Float]] {
        var generator = SeededGenerator(seed: seed)
        let z = Tensor(randomNormal: [count, 3], using: &generator).scalars
        return (0..<count).map { n in
            let (a, b, c) = (z[3 * n], z[3 * n + 1], z[3 * n + 2])
            return [1000 + 2 * a, 1000 + 2 * a + 0.3 * b, -500 + 0.5 * c - a]
        }
    }

    @Test("the accumulator's mean and covariance are the two-pass float64 ones, however the images are batched")
    func moments() throws {
        let sample = Self.correlatedSample(300, seed: 1)
        var accumulator = FeatureSummary.Accumulator(featureSize: 3)
        for start in stride(from: 0, to: 300, by: 70) { accumulator.add(Self.features(Array(sample[start..<min(300, start + 70)]))) }
        let (mean, covariance) = try #require(accumulator.moments)
        let rows = sample.map { $0.map(Double.init) }
        for i in 0..<3 {
            let expectedMean = rows.reduce(0) { $0 + $1[i] } / 300
            #expect(abs(mean[i] - expectedMean) < 1e-3, "mean[\(i)] \(mean[i]) vs \(expectedMean)")
            for j in 0..<3 {
                let meanJ = rows.reduce(0) { $0 + $1[j] } / 300
                let expected = rows.reduce(0) { $0 + ($1[i] - expectedMean) * ($1[j] - meanJ) } / 300
                #expect(abs(covariance[i * 3 + j] - expected) < 1e-3 * max(1, abs(expected)),
                        "Σ[\(i),\(j)] \(covariance[i * 3 + j]) vs \(expected)")
            }
        }
    }

    @Test("W whitens the shrunk covariance: W Σ' Wᵀ = I, W lower triangular")
    func whitening() throws {
        var accumulator = FeatureSummary.Accumulator(featureSize: 3)
        accumulator.add(Self.features(Self.correlatedSample(400, seed: 2)))
        let (_, covariance) = try #require(accumulator.moments)
        let shrinkage = 0.01
        let summary = try (FeatureSummary.calibrated(accumulator, heldOut: [Self.features(Self.correlatedSample(50, seed: 3))],
                                                             shrinkage: shrinkage))
        let average = (0..<3).reduce(0.0) { $0 + covariance[$1 * 4] } / 3
        let shrunk = (0..<9).map { covariance[$0] * (1 - shrinkage) + ($0 % 4 == 0 ? shrinkage * average : 0) }
        let w = summary.whitening.map(Double.init)
        for i in 0..<3 {
            for j in (i + 1)..<3 { #expect(w[i * 3 + j] == 0, "W[\(i),\(j)] = \(w[i * 3 + j])") }
            for j in 0..<3 {
                var product = 0.0
                for k in 0..<3 { for l in 0..<3 { product += w[i * 3 + k] * shrunk[k * 3 + l] * w[j * 3 + l] } }
                #expect(abs(product - (i == j ? 1 : 0)) < 1e-3, "(W Σ' Wᵀ)[\(i),\(j)] = \(product)")
            }
        }
    }

    @Test("the distance weighs the features' correlations: a deviation along them is near, the same sizes across them far")
    func covarianceMatters() throws {
        // Two channels that move together (x₂ ≈ x₁), each of variance about 1.
        var generator = SeededGenerator(seed: 4)
        let z = Tensor(randomNormal: [2000, 2], using: &generator).scalars
        let sample: [[Float]] = (0..<2000).map { [z[2 * $0], z[2 * $0] + 0.1 * z[2 * $0 + 1]] }
        var accumulator = FeatureSummary.Accumulator(featureSize: 2)
        accumulator.add(Self.features(sample))
        let summary = try (FeatureSummary.calibrated(accumulator, heldOut: [Self.features(Array(sample.prefix(100)))]))
        let distances = summary.distances(of: Self.features([[1.5, 1.5], [1.5, -1.5], [0, 0]]))
        #expect(distances[0] < 2, "along the correlation: \(distances[0])")
        #expect(distances[1] > 50 * distances[0], "across it: \(distances[1]) against \(distances[0])")
        #expect(distances[2] < 0.01, "at the mean: \(distances[2])")
    }

    @Test("the threshold is the quantile of the held-out distances: that share of them passes, the rest is flagged")
    func threshold() throws {
        var accumulator = FeatureSummary.Accumulator(featureSize: 3)
        accumulator.add(Self.features(Self.correlatedSample(500, seed: 5)))
        let heldOut = Self.features(Self.correlatedSample(200, seed: 6))
        for quantile in [0.5, 0.9, 0.99] {
            let summary = try (FeatureSummary.calibrated(accumulator, heldOut: [heldOut], quantile: quantile))
            let distances = summary.distances(of: heldOut).sorted()
            let rank = Int((quantile * 200).rounded(.up))
            #expect(summary.calibration.threshold == distances[rank - 1])
            #expect(summary.calibration.heldOutImageCount == 200 && summary.calibration.imageCount == 500)
            let flagged = summary.familiarity(of: heldOut).filter(\.isUnfamiliar).count
            #expect(flagged == 200 - rank, "quantile \(quantile): \(flagged) flagged")
        }
        // No held-out image: no threshold, no summary.
        #expect(throws: FeatureSummary.Failure.noHeldOutImages) { try FeatureSummary.calibrated(accumulator, heldOut: [Tensor]()) }
        #expect(throws: FeatureSummary.Failure.noImages) {
            try FeatureSummary.calibrated(FeatureSummary.Accumulator(featureSize: 3), heldOut: [heldOut])
        }
        var broken = FeatureSummary.Accumulator(featureSize: 3)
        broken.add(Self.features([[1, 2, .nan], [0, 1, 2]]))
        #expect(throws: FeatureSummary.Failure.nonFiniteFeatures(count: 2)) { try FeatureSummary.calibrated(broken, heldOut: [heldOut]) }
        #expect(Familiarity(distance: .nan, threshold: 1).isUnfamiliar)
    }

    static func summary(featureSize: Int) throws -> FeatureSummary {
        var generator = SeededGenerator(seed: 7)
        let sample = (0..<50).map { _ in Tensor(randomNormal: [featureSize], using: &generator).scalars }
        var accumulator = FeatureSummary.Accumulator(featureSize: featureSize)
        accumulator.add(features(sample))
        return try (FeatureSummary.calibrated(accumulator, heldOut: [features(Array(sample.prefix(10)))]))
    }

    @Test("a model file keeps the summary; one without it (written before it existed) loads without")
    func checkpointRoundTrip() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("model.safetensors").path
        var checkpoint = CheckpointTests.checkpoint()
        try checkpoint.write(to: path)
        #expect(try Checkpoint(contentsOf: path).featureSummary == nil)
        checkpoint.featureSummary = try Self.summary(featureSize: checkpoint.model.configuration.featureSize)
        try checkpoint.write(to: path)
        let loaded = try Checkpoint(contentsOf: path)
        #expect(loaded.featureSummary == checkpoint.featureSummary)
        let file = try SafeTensorsFile(contentsOf: path)
        #expect(file.names.contains("feature_summary.whitening") && file.metadata["feature_summary"] != nil)
    }

    /// What is wrong with the summary of a file edited after it was written with one: the model
    /// loads, without its summary, and says why (nil: the summary loaded).
    func loadError(editTensors: (inout [String: ShapedArray<Float>]) -> Void = { _ in },
                   editMetadata: (inout [String: String]) -> Void = { _ in }) throws -> CheckpointError.Reason? {
        var checkpoint = CheckpointTests.checkpoint()
        checkpoint.featureSummary = try Self.summary(featureSize: checkpoint.model.configuration.featureSize)
        return try CheckpointTests().withEditedFile(of: checkpoint, editTensors: editTensors, editMetadata: editMetadata) { path -> CheckpointError.Reason? in
            let loaded = try Checkpoint(contentsOf: path)
            #expect((loaded.featureSummary == nil) == (loaded.featureSummaryProblem != nil))
            #expect(loaded.featureSummaryProblem.map { $0.description.hasPrefix(path + ": ") } ?? true)
            return loaded.featureSummaryProblem?.reason
        }
    }

    @Test("a bad summary (tensors without metadata or the reverse, a wrong shape, NaN, a bad threshold) is named, and the model loads without it")
    func badSummaries() throws {
        #expect(try loadError() == nil)
        #expect(try loadError(editMetadata: { $0["feature_summary"] = nil }) == .unexpectedTensor("feature_summary.mean"))
        #expect(try loadError(editTensors: { $0["feature_summary.whitening"] = nil }) == .missingTensor("feature_summary.whitening"))
        #expect(try loadError(editTensors: { $0["feature_summary.mean"] = ShapedArray(shape: [2], values: [0, 0]) })
                == .wrongShape(tensor: "feature_summary.mean", expected: [3], found: [2]))
        let nan = try loadError(editTensors: {
            var values = $0["feature_summary.mean"]!.values
            values[1] = .nan
            $0["feature_summary.mean"] = ShapedArray(shape: [3], values: values)
        })
        guard case .nonFinite(tensor: "feature_summary.mean", index: 1, _)? = nan else {
            Issue.record("NaN mean: \(String(describing: nan))")
            return
        }
        for text in ["{}", "[1]", #"{"imageCount":1,"shrinkage":0.001,"threshold":-1,"heldOutImageCount":1,"quantile":0.99}"#] {
            let reason = try loadError(editMetadata: { $0["feature_summary"] = text })
            guard case .badMetadata(key: "feature_summary", _)? = reason else {
                Issue.record("\(text): \(String(describing: reason))")
                continue
            }
        }
    }
}
