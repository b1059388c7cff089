import Foundation
import GlimpseMetrics

/// Caption sets scored by the real pycocoevalcap 1.2 (CoreNLP 3.4.1 tokenizer, Bleu(4), Rouge,
/// Cider), written by `Scripts/make_metrics_fixtures.py` into `Fixtures/`.
struct MetricsFixture: Decodable {
    struct Corpus: Decodable {
        let bleu: [Double]
        let rougeL: Double
        let ciderD: Double
    }

    struct Image: Decodable {
        let id: String
        let references: [String]
        let candidate: String
        let tokenizedReferences: [String]
        let tokenizedCandidate: String
        let bleu: [Double]
        let rougeL: Double
        let ciderD: Double
    }

    let name: String
    /// What the set covers.
    let description: String
    let corpus: Corpus
    /// In pycocoevalcap's order: the order in which it wrote the captions for its tokenizer.
    let images: [Image]

    var references: [String: [String]] { Dictionary(uniqueKeysWithValues: images.map { ($0.id, $0.references) }) }
    var candidates: [String: String] { Dictionary(uniqueKeysWithValues: images.map { ($0.id, $0.candidate) }) }
    var tokenizedReferences: [String: [String]] {
        Dictionary(uniqueKeysWithValues: images.map { ($0.id, $0.tokenizedReferences) })
    }
    var tokenizedCandidates: [String: String] {
        Dictionary(uniqueKeysWithValues: images.map { ($0.id, $0.tokenizedCandidate) })
    }

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static let names = ["edge_lengths", "single_reference", "repeated_ngrams", "punctuation_and_case",
                        "contractions", "hyphens_and_numbers", "non_ascii", "single_image", "realistic"]

    static func load(_ name: String) throws -> MetricsFixture {
        let data = try Data(contentsOf: directory.appendingPathComponent(name + ".json"))
        return try JSONDecoder().decode(MetricsFixture.self, from: data)
    }
}

/// Captions and what pycocoevalcap's tokenizer step made of them, tokenized as one batch:
/// `tokenizer_cases` (hand-picked) and `tokenizer_fuzz` (seeded word and character salad).
struct TokenizerFixture: Decodable {
    struct Case: Decodable {
        let caption: String
        let tokenized: String
    }
    let cases: [Case]

    static let names = ["tokenizer_cases", "tokenizer_fuzz"]

    static func load(_ name: String) throws -> TokenizerFixture {
        let data = try Data(contentsOf: MetricsFixture.directory.appendingPathComponent(name + ".json"))
        return try JSONDecoder().decode(TokenizerFixture.self, from: data)
    }
}

/// The absolute tolerance for every metric against pycocoevalcap.
let metricTolerance = 1e-6

/// Differences larger than `metricTolerance`, one line each, naming what differed and by how much.
func scoreDifferences(_ scores: CaptionScores, _ fixture: MetricsFixture) -> [String] {
    var differences: [String] = []
    func check(_ label: String, _ actual: Double, _ expected: Double) {
        if !(abs(actual - expected) <= metricTolerance) {
            differences.append("\(label): Glimpse \(actual), pycocoevalcap \(expected), difference \(actual - expected)")
        }
    }
    let corpus = [scores.bleu1, scores.bleu2, scores.bleu3, scores.bleu4]
    for k in 0..<4 { check("corpus BLEU-\(k + 1)", corpus[k], fixture.corpus.bleu[k]) }
    check("corpus ROUGE-L", scores.rougeL, fixture.corpus.rougeL)
    check("corpus CIDEr-D", scores.ciderD, fixture.corpus.ciderD)
    for image in fixture.images {
        guard let actual = scores.perImage[image.id] else {
            differences.append("image \(image.id): missing from the per-image scores")
            continue
        }
        let bleu = [actual.bleu1, actual.bleu2, actual.bleu3, actual.bleu4]
        for k in 0..<4 { check("image \(image.id) BLEU-\(k + 1)", bleu[k], image.bleu[k]) }
        check("image \(image.id) ROUGE-L", actual.rougeL, image.rougeL)
        check("image \(image.id) CIDEr-D", actual.ciderD, image.ciderD)
    }
    return differences
}

/// Tokenizer outputs that differ from the real tool's, with both strings.
func tokenizationDifferences(inputs: [String], actual: [String], expected: [String]) -> [String] {
    zip(inputs, zip(actual, expected)).compactMap { input, pair in
        pair.0 == pair.1 ? nil : "input \(input.debugDescription)\n  Glimpse:       \(pair.0.debugDescription)\n  pycocoevalcap: \(pair.1.debugDescription)"
    }
}
