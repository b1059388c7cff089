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
    public static func evaluate(references: [String: [String]], candidates: [String: String],
                                tokenizer: PTBTokenizer = PTBTokenizer()) throws(MetricsError) -> CaptionScores {
        try validate(references: references, candidates: candidates)
        let tokenizedReferences = references.mapValues { $0.map(tokenizer.tokenize) }
        let tokenizedCandidates = candidates.mapValues(tokenizer.tokenize)
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

        var counted: [(candidate: CountedSentence, references: [CountedSentence])] = []
        var rougeL: [Double] = []
        counted.reserveCapacity(ids.count)
        rougeL.reserveCapacity(ids.count)
        for id in ids {
            let candidate = tokenizedCandidates[id]!
            let references = tokenizedReferences[id]!
            counted.append((
                CountedSentence(words: vocabulary.ids(of: pythonWhitespaceSplit(candidate))),
                references.map { CountedSentence(words: vocabulary.ids(of: pythonWhitespaceSplit($0))) }))
            rougeL.append(ROUGELScorer.score(
                candidate: vocabulary.ids(of: pythonSpaceSplit(candidate)),
                references: references.map { vocabulary.ids(of: pythonSpaceSplit($0)) }))
        }

        let bleu = BLEUScorer.score(images: counted)
        let cider = CIDErDScorer.score(images: counted)
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

    private static func mean(_ values: [Double]) -> Double {
        values.reduce(0, +) / Double(values.count)
    }
}
