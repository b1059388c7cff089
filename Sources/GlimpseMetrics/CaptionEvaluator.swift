/// Scores candidate captions against reference captions with the numbers of the COCO caption
/// evaluation (pycocoevalcap 1.2): BLEU-1…4, ROUGE-L and CIDEr-D, computed in-process.
///
/// Like pycocoevalcap, ``evaluate(references:candidates:)`` first tokenises every caption with
/// ``PTBTokenizer`` (lower-cased, punctuation dropped, tokens joined by single spaces), then
/// scores the tokenised strings. METEOR and SPICE are not computed (see
/// ``CaptionMetric/isComputed``).
///
/// ```swift
/// let scores = try CaptionEvaluator.evaluate(
///     references: ["42": ["A dog runs on the beach.", "A brown dog running."]],
///     candidates: ["42": "a dog running on a beach"])
/// print(scores.ciderD, scores.imagesRanked(by: .ciderD).prefix(10))
/// ```
public enum CaptionEvaluator {
    /// Tokenises and scores raw captions.
    ///
    /// - Parameters:
    ///   - references: image id → one or more human captions.
    ///   - candidates: image id → the caption to score. The id sets must be equal.
    /// - Throws: ``MetricsError`` naming the image ids when the sets differ, an image has no
    ///   references, or there are no images at all.
    public static func evaluate(references: [String: [String]],
                                candidates: [String: String]) throws(MetricsError) -> CaptionScores {
        try validate(references: references, candidates: candidates)
        // Like pycocoevalcap: all references in one tokenizer batch and all candidates in
        // another, one caption per line, here in sorted image order. The batch matters only
        // where a caption's end depends on the next line (see PTBTokenizer).
        let tokenizer = PTBTokenizer()
        let ids = candidates.keys.sorted()
        var flatReferences = tokenizer.tokenize(ids.flatMap { references[$0]! })[...]
        var tokenizedReferences: [String: [String]] = [:]
        for id in ids {
            let count = references[id]!.count
            tokenizedReferences[id] = Array(flatReferences.prefix(count))
            flatReferences = flatReferences.dropFirst(count)
        }
        let tokenizedCandidates = Dictionary(
            uniqueKeysWithValues: zip(ids, tokenizer.tokenize(ids.map { candidates[$0]! })))
        return try evaluate(tokenizedReferences: tokenizedReferences, tokenizedCandidates: tokenizedCandidates)
    }

    /// Scores captions that are already tokenised (tokens joined by single spaces), skipping
    /// ``PTBTokenizer``; pycocoevalcap's scorers called on their own behave this way.
    public static func evaluate(tokenizedReferences: [String: [String]],
                                tokenizedCandidates: [String: String]) throws(MetricsError) -> CaptionScores {
        try validate(references: tokenizedReferences, candidates: tokenizedCandidates)
        // Sorted for a deterministic summation order; the scores do not depend on it otherwise.
        let ids = tokenizedCandidates.keys.sorted()
        var vocabulary = Vocabulary()
        var table = NGramTable(capacity: ids.count * 64)

        var counted: [(candidate: CountedSentence, references: [CountedSentence])] = []
        var rougeL: [Double] = []
        counted.reserveCapacity(ids.count)
        rougeL.reserveCapacity(ids.count)
        for id in ids {
            let candidate = Words(tokenizedCandidates[id]!, vocabulary: &vocabulary)
            let references = tokenizedReferences[id]!.map { Words($0, vocabulary: &vocabulary) }
            counted.append((CountedSentence(words: candidate.whitespaceSplit, table: &table),
                            references.map { CountedSentence(words: $0.whitespaceSplit, table: &table) }))
            rougeL.append(ROUGELScorer.score(candidate: candidate.spaceSplit, references: references.map(\.spaceSplit)))
        }

        let bleu = BLEUScorer.score(images: counted, orders: table.orders)
        let cider = CIDErDScorer.score(images: counted, orders: table.orders)
        var perImage: [String: ImageCaptionScores] = [:]
        perImage.reserveCapacity(ids.count)
        for (index, id) in ids.enumerated() {
            let b = bleu.perImage[index]
            perImage[id] = ImageCaptionScores(
                bleu1: b[0], bleu2: b[1], bleu3: b[2], bleu4: b[3],
                rougeL: rougeL[index], ciderD: cider[index],
                tokenizedCandidate: tokenizedCandidates[id]!,
                tokenizedReferences: tokenizedReferences[id]!)
        }
        return CaptionScores(
            bleu1: bleu.corpus[0], bleu2: bleu.corpus[1], bleu3: bleu.corpus[2], bleu4: bleu.corpus[3],
            rougeL: mean(rougeL), ciderD: mean(cider), perImage: perImage)
    }

    static func validate<Candidate>(references: [String: [String]],
                                    candidates: [String: Candidate]) throws(MetricsError) {
        if references.isEmpty && candidates.isEmpty { throw .noImages }
        let unknown = candidates.keys.filter { references[$0] == nil }
        if !unknown.isEmpty { throw .candidatesForUnknownImages(unknown.sorted()) }
        let uncaptioned = references.keys.filter { candidates[$0] == nil }
        if !uncaptioned.isEmpty { throw .imagesWithoutCandidates(uncaptioned.sorted()) }
        let unreferenced = references.filter { $0.value.isEmpty }.map(\.key)
        if !unreferenced.isEmpty { throw .imagesWithoutReferences(unreferenced.sorted()) }
    }

    /// A tokenised caption as word ids under both of pycocoevalcap's ways of splitting it.
    struct Words {
        /// `str.split()`, for BLEU and CIDEr-D.
        let whitespaceSplit: [UInt32]
        /// `str.split(" ")`, for ROUGE-L.
        let spaceSplit: [UInt32]

        init(_ caption: String, vocabulary: inout Vocabulary) {
            let pieces = pythonSpaceSplit(caption)
            spaceSplit = vocabulary.ids(of: pieces)
            // The two splits agree unless there are empty pieces or other whitespace, the usual case.
            let plain = pieces.allSatisfy { !$0.isEmpty } && caption.utf8.allSatisfy { byte in
                byte >= 0x20 && byte < 0x80  // no other ASCII whitespace, nothing that could be Unicode whitespace
            }
            whitespaceSplit = plain ? spaceSplit : vocabulary.ids(of: pythonWhitespaceSplit(caption))
        }
    }

    private static func mean(_ values: [Double]) -> Double {
        values.reduce(0, +) / Double(values.count)
    }
}
