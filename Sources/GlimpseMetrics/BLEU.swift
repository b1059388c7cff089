#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// BLEU-1…4 as pycocoevalcap's `bleu/bleu_scorer.py` with `option="closest"`.
///
/// Per image: clipped n-gram matches (`min(count, max count in any reference)`), guesses
/// `max(0, length - n + 1)`, and the reference length closest to the candidate's (a tie goes to
/// the shorter). The corpus score sums matches, guesses and lengths over images first. Both
/// apply the same smoothing constants and the brevity penalty `exp(1 - 1/ratio)` when the
/// length ratio is below 1.
struct BLEUScorer {
    /// Added to matches "so that if guess is 0 still return 0" (the scorer's comment).
    static let tiny = 1e-15
    /// Added to guesses and reference lengths to avoid division by zero.
    static let small = 1e-9
    static let maximumOrder = 4

    struct Statistics {
        var testLength = 0
        var referenceLength = 0
        var guesses = [Int](repeating: 0, count: BLEUScorer.maximumOrder)
        var correct = [Int](repeating: 0, count: BLEUScorer.maximumOrder)
    }

    /// Statistics of one image (`cook_refs` + `cook_test`).
    static func statistics(candidate: CountedSentence, references: [CountedSentence],
                           orders: [UInt8]) -> Statistics {
        // The maximum count of each n-gram over the references, as sorted (id, count) pairs.
        var pooled: [(id: Int32, count: Int32)] = []
        for reference in references {
            for index in reference.ngrams.indices { pooled.append((reference.ngrams[index], reference.counts[index])) }
        }
        pooled.sort { $0.id < $1.id }
        var maxIds: [Int32] = []
        var maxCounts: [Int32] = []
        for entry in pooled {
            if maxIds.last == entry.id {
                maxCounts[maxCounts.count - 1] = max(maxCounts[maxCounts.count - 1], entry.count)
            } else {
                maxIds.append(entry.id)
                maxCounts.append(entry.count)
            }
        }

        var stats = Statistics()
        stats.testLength = candidate.length
        // min((abs(l - testlen), l) for l in reflen)[1]: closest, and the shorter on a tie.
        stats.referenceLength = references.map(\.length).min { a, b in
            let (da, db) = (abs(a - candidate.length), abs(b - candidate.length))
            return da != db ? da < db : a < b
        } ?? 0
        for order in 1...maximumOrder {
            stats.guesses[order - 1] = max(0, candidate.length - order + 1)
        }
        // Clipped matches: both id lists are sorted, so one merge pass finds the shared n-grams.
        var r = 0
        for (index, id) in candidate.ngrams.enumerated() {
            while r < maxIds.count && maxIds[r] < id { r += 1 }
            if r < maxIds.count && maxIds[r] == id {
                stats.correct[Int(orders[Int(id)]) - 1] += Int(min(maxCounts[r], candidate.counts[index]))
            }
        }
        return stats
    }

    /// Cumulative BLEU-1…4 of summed statistics, exactly as `compute_score` evaluates them.
    static func scores(_ stats: Statistics) -> [Double] {
        var bleus: [Double] = []
        var product = 1.0
        for k in 0..<maximumOrder {
            product *= (Double(stats.correct[k]) + tiny) / (Double(stats.guesses[k]) + small)
            bleus.append(pow(product, 1.0 / Double(k + 1)))
        }
        let ratio = (Double(stats.testLength) + tiny) / (Double(stats.referenceLength) + small)
        if ratio < 1 {
            let penalty = exp(1 - 1 / ratio)
            bleus = bleus.map { $0 * penalty }
        }
        return bleus
    }

    /// Corpus BLEU-1…4 and each image's BLEU-1…4, in the order of `images`.
    static func score(images: [(candidate: CountedSentence, references: [CountedSentence])], orders: [UInt8])
        -> (corpus: [Double], perImage: [[Double]]) {
        var total = Statistics()
        var perImage: [[Double]] = []
        perImage.reserveCapacity(images.count)
        for image in images {
            let stats = statistics(candidate: image.candidate, references: image.references, orders: orders)
            perImage.append(scores(stats))
            total.testLength += stats.testLength
            total.referenceLength += stats.referenceLength
            for k in 0..<maximumOrder {
                total.guesses[k] += stats.guesses[k]
                total.correct[k] += stats.correct[k]
            }
        }
        return (scores(total), perImage)
    }
}
