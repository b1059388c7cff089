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

    /// A tf-idf vector: weights aligned with the sentence's sorted n-gram ids, the per-order
    /// norms, and the bigram count used as "length".
    struct Vector {
        var ngrams: [Int32]
        var weights: [Double]
        var norms: [Double]
        var length: Int
    }

    /// Per-image CIDEr-D, in the order of `images`; `orders[id]` is the word count of n-gram `id`.
    static func score(images: [(candidate: CountedSentence, references: [CountedSentence])],
                      orders: [UInt8]) -> [Double] {
        var documentFrequency = [Int32](repeating: 0, count: orders.count)
        for image in images {
            var present = image.references.flatMap(\.ngrams)
            present.sort()
            var previous: Int32 = -1
            for id in present where id != previous {
                documentFrequency[Int(id)] += 1
                previous = id
            }
        }
        let referenceLength = log(Double(images.count))

        func vector(_ sentence: CountedSentence) -> Vector {
            var weights = [Double](repeating: 0, count: sentence.ngrams.count)
            var squares = [Double](repeating: 0, count: maximumOrder)
            var length = 0
            for (index, id) in sentence.ngrams.enumerated() {
                let termFrequency = Int(sentence.counts[index])
                let df = log(max(1.0, Double(documentFrequency[Int(id)])))
                let weight = Double(termFrequency) * (referenceLength - df)
                weights[index] = weight
                let order = Int(orders[Int(id)])
                squares[order - 1] += weight * weight
                if order == 2 { length += termFrequency }
            }
            return Vector(ngrams: sentence.ngrams, weights: weights,
                          norms: squares.map { $0.squareRoot() }, length: length)
        }

        func similarity(_ hypothesis: Vector, _ reference: Vector) -> [Double] {
            let delta = Double(hypothesis.length - reference.length)
            let penalty = exp(-(delta * delta) / (2 * sigma * sigma))
            var values = [Double](repeating: 0, count: maximumOrder)
            // An n-gram missing from the reference adds min(w, 0) * 0 = 0, so only shared ones count.
            var r = 0
            for (index, id) in hypothesis.ngrams.enumerated() {
                while r < reference.ngrams.count && reference.ngrams[r] < id { r += 1 }
                if r < reference.ngrams.count && reference.ngrams[r] == id {
                    let referenceWeight = reference.weights[r]
                    values[Int(orders[Int(id)]) - 1] += min(hypothesis.weights[index], referenceWeight) * referenceWeight
                }
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
