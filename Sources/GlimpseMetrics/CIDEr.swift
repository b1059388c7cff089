#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// CIDEr-D as pycocoevalcap's `cider/cider_scorer.py` (which names it "CIDEr").
///
/// - Document frequency of an n-gram: the number of images whose references contain it; the
///   references are those of the evaluated set, not of a training corpus.
/// - `refLen = log(number of images)`; an n-gram's weight is `tf * (refLen - log(max(1, df)))`.
/// - Per order n, the clipped similarity `sum(min(hyp, ref) * ref) / (|hyp| |ref|)` (the division
///   is skipped when a norm is 0), times the Gaussian penalty `exp(-delta^2 / (2 sigma^2))`,
///   sigma = 6. Faithful to the scorer, `delta` is the difference of the *bigram* counts
///   (its `length` accumulates term frequencies where the n-gram index `n == 1`), not of the
///   word counts.
/// - The image score is the mean over n = 1…4, summed over references, divided by the number of
///   references, times 10. The corpus score is the mean over images.
struct CIDErDScorer {
    static let sigma = 6.0
    static let maximumOrder = 4

    /// A tf-idf vector split by n-gram order, with the per-order norms and the bigram count.
    struct Vector {
        var weights: [NGram: Double]
        var norms: [Double]
        var length: Int
    }

    /// Per-image CIDEr-D, in the order of `images`.
    static func score(images: [(candidate: CountedSentence, references: [CountedSentence])]) -> [Double] {
        var documentFrequency: [NGram: Int] = [:]
        for image in images {
            var seen = Set<NGram>()
            for reference in image.references {
                for ngram in reference.counts.keys where seen.insert(ngram).inserted {
                    documentFrequency[ngram, default: 0] += 1
                }
            }
        }
        let referenceLength = log(Double(images.count))

        func vector(_ sentence: CountedSentence) -> Vector {
            var weights: [NGram: Double] = [:]
            weights.reserveCapacity(sentence.counts.count)
            var squares = [Double](repeating: 0, count: maximumOrder)
            var length = 0
            for (ngram, termFrequency) in sentence.counts {
                let df = log(max(1.0, Double(documentFrequency[ngram] ?? 0)))
                let weight = Double(termFrequency) * (referenceLength - df)
                weights[ngram] = weight
                squares[ngram.order - 1] += weight * weight
                if ngram.order == 2 { length += termFrequency }
            }
            return Vector(weights: weights, norms: squares.map { $0.squareRoot() }, length: length)
        }

        func similarity(_ hypothesis: Vector, _ reference: Vector) -> [Double] {
            let delta = Double(hypothesis.length - reference.length)
            let penalty = exp(-(delta * delta) / (2 * sigma * sigma))
            var values = [Double](repeating: 0, count: maximumOrder)
            for (ngram, weight) in hypothesis.weights {
                let referenceWeight = reference.weights[ngram] ?? 0
                values[ngram.order - 1] += min(weight, referenceWeight) * referenceWeight
            }
            for k in 0..<maximumOrder {
                if hypothesis.norms[k] != 0, reference.norms[k] != 0 {
                    values[k] /= hypothesis.norms[k] * reference.norms[k]
                }
                values[k] *= penalty
            }
            return values
        }

        return images.map { image in
            let hypothesis = vector(image.candidate)
            var sums = [Double](repeating: 0, count: maximumOrder)
            for reference in image.references {
                let values = similarity(hypothesis, vector(reference))
                for k in 0..<maximumOrder { sums[k] += values[k] }
            }
            let mean = sums.reduce(0, +) / Double(maximumOrder)
            return mean / Double(image.references.count) * 10
        }
    }
}
