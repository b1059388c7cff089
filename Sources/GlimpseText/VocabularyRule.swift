/// How training chooses its vocabulary from the training captions. `glimpse train` builds its
/// vocabulary with `decide`, and `glimpse inspect` reports the same decision, so the two never
/// disagree about which words a model will know.
public struct VocabularyRule: Sendable, Equatable {
    /// Training's default minimum count.
    public static let defaultMinimumCount = 5
    /// Training's default ceiling on the share of training words that become `<unk>`.
    public static let defaultMaximumUnknownRate = 0.05

    /// Words seen fewer times in the training captions become `<unk>`.
    public var minimumCount: Int
    /// Lower `minimumCount` (down to 1) while more than `maximumUnknownRate` of the training
    /// words would be `<unk>`: a small dataset would otherwise be left with a vocabulary of a
    /// handful of words. Off when the count was chosen explicitly.
    public var lowersMinimumCount: Bool
    public var maximumUnknownRate: Double
    /// Most tokens, specials included: past it the least frequent words become `<unk>` too.
    public var maximumSize: Int?

    public init(minimumCount: Int = VocabularyRule.defaultMinimumCount, lowersMinimumCount: Bool = true,
                maximumUnknownRate: Double = VocabularyRule.defaultMaximumUnknownRate, maximumSize: Int? = nil) {
        self.minimumCount = minimumCount
        self.lowersMinimumCount = lowersMinimumCount
        self.maximumUnknownRate = maximumUnknownRate
        self.maximumSize = maximumSize
    }

    /// The vocabulary training builds from these tokenised training captions, and why.
    public func decide<Captions: Sequence>(trainingCaptions: Captions) -> VocabularyDecision where Captions.Element == [String] {
        var counts: [String: Int] = [:]
        var total = 0
        for caption in trainingCaptions {
            for word in caption { counts[word, default: 0] += 1; total += 1 }
        }
        /// Training words seen fewer than `minimum` times.
        func rarer(than minimum: Int) -> Int { counts.values.reduce(0) { $0 + ($1 < minimum ? $1 : 0) } }

        var minimum = max(1, minimumCount)
        var reason = lowersMinimumCount ? VocabularyDecision.Reason.standard : .chosen
        if lowersMinimumCount && total > 0 {
            let atRequested = Double(rarer(than: minimum)) / Double(total)
            while minimum > 1 && Double(rarer(than: minimum)) / Double(total) > maximumUnknownRate { minimum -= 1 }
            if minimum < minimumCount { reason = .lowered(from: minimumCount, unknownRate: atRequested) }
        }
        let eligible = Vocabulary.build(counts: counts, minimumCount: minimum)
        let vocabulary = maximumSize.map { eligible.truncated(to: $0) } ?? eligible
        let unknown = counts.reduce(0) { $0 + (vocabulary.contains($1.key) && !Vocabulary.specialTokens.contains($1.key) ? 0 : $1.value) }
        return VocabularyDecision(rule: self, minimumCount: minimum, reason: reason, vocabulary: vocabulary,
                                  cappedWords: eligible.count - vocabulary.count, trainingWords: total, unknownWords: unknown)
    }
}

/// The vocabulary `VocabularyRule.decide` chose, with the figures that explain it.
public struct VocabularyDecision: Sendable, Equatable {
    public enum Reason: Sendable, Equatable {
        /// The rule's minimum count, chosen explicitly (never lowered).
        case chosen
        /// The rule's minimum count, kept: few enough training words are left unknown.
        case standard
        /// Lowered from `from`, at which `unknownRate` of the training words would have been `<unk>`.
        case lowered(from: Int, unknownRate: Double)
    }

    public var rule: VocabularyRule
    /// Words seen fewer times in the training captions are `<unk>`.
    public var minimumCount: Int
    public var reason: Reason
    /// The tokens, the four specials first.
    public var vocabulary: Vocabulary
    /// Words seen often enough but left out by `rule.maximumSize`.
    public var cappedWords: Int
    /// Words (tokens) in the training captions, and how many of them map to `<unk>`.
    public var trainingWords: Int
    public var unknownWords: Int

    /// Share of the training captions' words that map to `<unk>`, in [0, 1] (0 without words).
    public var unknownRate: Double { trainingWords == 0 ? 0 : Double(unknownWords) / Double(trainingWords) }
    /// Words in the vocabulary, the specials not counted.
    public var wordCount: Int { vocabulary.count - Vocabulary.specialTokens.count }
}
