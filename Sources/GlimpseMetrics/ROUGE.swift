/// ROUGE-L as pycocoevalcap's `rouge/rouge.py`.
///
/// Tokens are split on single spaces (so an empty caption is one empty token). For each
/// reference the longest common subsequence gives a precision and a recall; the *maximum*
/// precision and the *maximum* recall are taken separately over references (possibly from
/// different references) and combined into an F-measure with beta = 1.2.
struct ROUGELScorer {
    static let beta = 1.2

    /// ROUGE-L of one candidate against its references; tokens are interned ids.
    static func score(candidate: [UInt32], references: [[UInt32]]) -> Double {
        var bestPrecision = 0.0
        var bestRecall = 0.0
        for reference in references {
            let lcs = Double(longestCommonSubsequence(reference, candidate))
            bestPrecision = max(bestPrecision, lcs / Double(candidate.count))
            bestRecall = max(bestRecall, lcs / Double(reference.count))
        }
        guard bestPrecision != 0, bestRecall != 0 else { return 0 }
        let betaSquared = beta * beta
        return ((1 + betaSquared) * bestPrecision * bestRecall) / (bestRecall + betaSquared * bestPrecision)
    }

    /// Length of the longest common subsequence, with one rolling row of the dynamic programme.
    static func longestCommonSubsequence(_ a: [UInt32], _ b: [UInt32]) -> Int {
        guard !a.isEmpty, !b.isEmpty else { return 0 }
        var previous = [Int](repeating: 0, count: b.count + 1)
        var current = previous
        for x in a {
            for j in 1...b.count {
                current[j] = x == b[j - 1] ? previous[j - 1] + 1 : max(previous[j], current[j - 1])
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
