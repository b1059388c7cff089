import Testing
import GlimpseMetrics

@Suite("Agreement with pycocoevalcap 1.2 on the committed fixtures")
struct AgreementTests {
    @Test("The tokenizer reproduces the real tokenizer's strings", arguments: MetricsFixture.names)
    func tokenizerMatches(name: String) throws {
        let fixture = try MetricsFixture.load(name)
        let tokenizer = PTBTokenizer()
        // pycocoevalcap tokenizes all references in one call and all candidates in another,
        // one caption per line in image order; the batches here are the same.
        let references = fixture.images.flatMap(\.references)
        let differences = tokenizationDifferences(
            inputs: references, actual: tokenizer.tokenize(references),
            expected: fixture.images.flatMap(\.tokenizedReferences))
        + tokenizationDifferences(
            inputs: fixture.images.map(\.candidate), actual: tokenizer.tokenize(fixture.images.map(\.candidate)),
            expected: fixture.images.map(\.tokenizedCandidate))
        #expect(differences.isEmpty, "\(differences.count) caption(s) tokenized differently:\n\(differences.joined(separator: "\n"))")
    }

    @Test("Scores of the real tokenizer's strings match to 1e-6", arguments: MetricsFixture.names)
    func scoresOfTokenizedCaptionsMatch(name: String) throws {
        let fixture = try MetricsFixture.load(name)
        let scores = try CaptionEvaluator.evaluate(tokenizedReferences: fixture.tokenizedReferences,
                                                   tokenizedCandidates: fixture.tokenizedCandidates)
        let differences = scoreDifferences(scores, fixture)
        #expect(differences.isEmpty, "\(differences.count) score(s) differ:\n\(differences.joined(separator: "\n"))")
    }

    @Test("Scores of the raw captions, tokenized natively, match to 1e-6", arguments: MetricsFixture.names)
    func scoresOfRawCaptionsMatch(name: String) throws {
        let fixture = try MetricsFixture.load(name)
        let scores = try CaptionEvaluator.evaluate(references: fixture.references, candidates: fixture.candidates)
        let differences = scoreDifferences(scores, fixture)
        #expect(differences.isEmpty, "\(differences.count) score(s) differ:\n\(differences.joined(separator: "\n"))")
    }

    @Test("Tricky and random captions tokenize as the real tokenizer did", arguments: TokenizerFixture.names)
    func tokenizerCasesMatch(name: String) throws {
        let fixture = try TokenizerFixture.load(name)
        let inputs = fixture.cases.map(\.caption)
        let differences = tokenizationDifferences(inputs: inputs, actual: PTBTokenizer().tokenize(inputs),
                                                  expected: fixture.cases.map(\.tokenized))
        #expect(differences.isEmpty, "\(differences.count) caption(s) tokenized differently:\n\(differences.joined(separator: "\n"))")
    }
}
