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
        let weights = Weights(references: images.map(\.references), ngramCount: orders.count)
        return images.map { image in
            imageScore(weights.vector(image.candidate, orders: orders),
                       references: image.references.map { weights.vector($0, orders: orders) }, orders: orders)
        }
    }

    /// What the tf-idf weights depend on: each n-gram's document frequency (the number of
    /// images whose references contain it) and `refLen = log(number of images)`.
    struct Weights: Sendable {
        let documentFrequency: [Int32]
        let referenceLength: Double

        init(references images: [[CountedSentence]], ngramCount: Int) {
            var documentFrequency = [Int32](repeating: 0, count: ngramCount)
            for references in images {
                var present = references.flatMap(\.ngrams)
                present.sort()
                var previous: Int32 = -1
                for id in present where id != previous {
                    documentFrequency[Int(id)] += 1
                    previous = id
                }
            }
            self.documentFrequency = documentFrequency
            referenceLength = log(Double(images.count))
        }

        /// The sentence's tf-idf vector. N-gram ids the frequencies do not cover (added to the
        /// table after them) occur in no reference: document frequency 0.
        func vector(_ sentence: CountedSentence, orders: [UInt8]) -> Vector {
            var weights = [Double](repeating: 0, count: sentence.ngrams.count)
            var squares = [Double](repeating: 0, count: maximumOrder)
            var length = 0
            for (index, id) in sentence.ngrams.enumerated() {
                let termFrequency = Int(sentence.counts[index])
                let frequency = Int(id) < documentFrequency.count ? documentFrequency[Int(id)] : 0
                let df = log(max(1.0, Double(frequency)))
                let weight = Double(termFrequency) * (referenceLength - df)
                weights[index] = weight
                let order = Int(orders[Int(id)])
                squares[order - 1] += weight * weight
                if order == 2 { length += termFrequency }
            }
            return Vector(ngrams: sentence.ngrams, weights: weights,
                          norms: squares.map { $0.squareRoot() }, length: length)
        }
    }

    static func similarity(_ hypothesis: Vector, _ reference: Vector, orders: [UInt8]) -> [Double] {
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

    /// One image's CIDEr-D: the mean over orders of the similarities summed over references,
    /// divided by the number of references, times 10.
    static func imageScore(_ hypothesis: Vector, references: [Vector], orders: [UInt8]) -> Double {
        var sums = [Double](repeating: 0, count: maximumOrder)
        for reference in references {
            let values = similarity(hypothesis, reference, orders: orders)
            for k in 0..<maximumOrder { sums[k] += values[k] }
        }
        let mean = sums.reduce(0, +) / Double(maximumOrder)
        return mean / Double(references.count) * 10
    }
}

/// CIDEr-D of single captions against a fixed corpus of references: the reward of
/// self-critical training. The document frequencies are those of the whole corpus (every
/// training image's references), computed once, as CIDEr-D computes them over an evaluated
/// set: scoring image i's candidate here gives what `CaptionEvaluator` would give it in an
/// evaluation of the corpus's images with the same tokens.
///
/// Captions are word ids (any positive integers, e.g. a model vocabulary's ids without the
/// special tokens): no tokenizer runs.
public struct CIDErDReward: Sendable {
    private var table = NGramTable()
    private let weights: CIDErDScorer.Weights
    private let references: [[CIDErDScorer.Vector]]

    /// `references[i]`: image i's reference captions.
    public init(references: [[[Int32]]]) {
        var table = NGramTable()
        let counted = references.map { captions in
            captions.map { CountedSentence(words: $0.map { UInt32(truncatingIfNeeded: $0) }, table: &table) }
        }
        let weights = CIDErDScorer.Weights(references: counted, ngramCount: table.count)
        let orders = table.orders
        self.references = counted.map { $0.map { weights.vector($0, orders: orders) } }
        self.weights = weights
        self.table = table
    }

    public var imageCount: Int { references.count }

    /// CIDEr-D of `candidate` for image `image` (0 for an image without references).
    public mutating func score(_ candidate: [Int32], image: Int) -> Double {
        precondition(references.indices.contains(image), "image \(image) outside the corpus of \(references.count)")
        guard !references[image].isEmpty else { return 0 }
        let sentence = CountedSentence(words: candidate.map { UInt32(truncatingIfNeeded: $0) }, table: &table)
        let orders = table.orders
        return CIDErDScorer.imageScore(weights.vector(sentence, orders: orders), references: references[image],
                                       orders: orders)
    }
}
