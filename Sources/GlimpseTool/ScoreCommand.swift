import ArgumentParser
import Foundation
import GlimpseData
import GlimpseImage
import GlimpseMetrics
import GlimpseSynth
import GlimpseSupport

/// Which images of a dataset a command covers: one split, or all of them (a test
/// set made for the purpose, such as a fresh `glimpse synth` folder).
enum SplitChoice: String, CaseIterable, ExpressibleByArgument, CustomStringConvertible {
    case train, val, test, all

    func images(of dataset: Dataset) -> [DatasetImage] {
        switch self {
        case .train: return dataset.images(in: .train)
        case .val: return dataset.images(in: .validation)
        case .test: return dataset.images(in: .test)
        case .all: return dataset.images
        }
    }

    var description: String { rawValue }
}

struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score captions made by anything against a dataset's references.",
        discussion: """
        PREDICTIONS.json is in the COCO results format, [{"image_id", "caption"}], with \
        COCO's numeric ids or, for datasets without them, the image file name or its \
        path relative to the dataset folder, as `glimpse batch FOLDER --format coco` \
        (for the same FOLDER) and `glimpse evaluate --output` write it; JSON Lines \
        of the same objects, one per line, are read too (not the records of `glimpse \
        batch --format jsonl`, whose paths are not image ids: use --format coco). Prints \
        one JSON object: BLEU-1..4, ROUGE-L and CIDEr-D exactly as the COCO caption \
        evaluation (pycocoevalcap) computes them, the images scored, and the \
        predictions that did not line up. METEOR and SPICE are not computed. \
        Predictions for images outside the split and split images without a \
        prediction are always reported; --strict makes them an error. When the dataset \
        has ground truth (ground_truth.jsonl, as `glimpse synth` writes it), the content \
        scores too, under "content" (see Docs/content.md).
        """)

    @Argument(help: "Predictions in the COCO results format.")
    var predictions: String

    @OptionGroup var dataset: DatasetOptions

    @Option(help: "The split the predictions are for: train, val, test, or all (every image).")
    var split: SplitChoice = .test

    @Option(help: "Also write per-image scores (JSON Lines, worst CIDEr-D first) to this file.")
    var perImage: String?

    @Flag(help: "Fail (exit status 1) when a prediction or a split image does not line up.")
    var strict = false

    func run() throws {
        let loaded: Dataset
        let predicted: Predictions
        let groundTruth: [String: GroundTruth]?
        do {
            loaded = try dataset.load()
            predicted = try Predictions.read(predictions)
            groundTruth = try GroundTruthFile.load(captionSource: loaded.captionSource, root: loaded.root)
        } catch {
            Terminal.standardError("glimpse: \(error)")
            throw ExitCode(1)
        }
        let images = split.images(of: loaded)
        let matching = predicted.match(images, folder: loaded.folder)
        if split != .all && !matching.unknown.isEmpty {
            // A whole folder captioned (glimpse batch) is scored one split at a time: say where the rest went.
            let unknown = Set(matching.unknown)
            let elsewhere = Predictions(entries: predicted.entries.filter { unknown.contains($0.imageID) })
                .match(loaded.images, folder: loaded.folder).captions.count
            if elsewhere > 0 {
                Terminal.standardError("glimpse: \(Plural.counted(elsewhere, "prediction")) \(elsewhere == 1 ? "is" : "are") for "
                                       + "images of the other splits, left out of the \(split) split's scores; --split all scores every image")
            }
        }
        let report = try Scoring.score(matching: matching, images: images, split: split, groundTruth: groundTruth,
                                       perImagePath: perImage)
        print(report.jsonLine)
        if strict && !(matching.missing.isEmpty && matching.unknown.isEmpty && matching.duplicates.isEmpty && matching.ambiguous.isEmpty) {
            throw ExitCode(1)
        }
    }
}

/// The scores of a set of captions: the JSON summary `glimpse score` prints (and `glimpse
/// evaluate --json`), with the figures behind it.
struct ScoreReport {
    /// The JSON object: metrics under pycocoevalcap's names, counts, "content", extra fields.
    var summary: [String: Any]
    var scores: CaptionScores
    /// Images scored (those with a caption), and in the split.
    var imagesScored: Int
    var imagesInSplit: Int
    var content: ContentScores?

    var jsonLine: String { JSONText.line(summary) }
}

/// Scoring shared by `glimpse score` and `glimpse evaluate`.
enum Scoring {
    /// Scores the matched captions, reports what did not line up on standard error (and a
    /// warning when too few images are scored for the metrics to mean much), writes
    /// per-image scores if asked, and returns the report. With ground truth (a `glimpse synth`
    /// dataset), the content scores too: under "content" in the summary and per image, and,
    /// with `contentLine`, as a line for people on standard error.
    static func score(matching: Predictions.Matching, images: [DatasetImage], split: SplitChoice,
                      groundTruth: [String: GroundTruth]? = nil, contentLine: Bool = true,
                      perImagePath: String?, extra: [(String, Any)] = []) throws -> ScoreReport {
        reportMismatches(matching, split: split)
        guard !matching.captions.isEmpty else {
            Terminal.standardError("glimpse: no prediction matches an image of the \(split) split")
            throw ExitCode(1)
        }
        if let warning = DatasetInspection.fewImagesWarning(matching.captions.count, kind: "scored",
                                                             metrics: "BLEU, ROUGE-L and CIDEr-D over so few") {
            Terminal.standardError("glimpse: warning: " + warning)
        }
        let references = Dictionary(uniqueKeysWithValues: images.filter { matching.captions[$0.id] != nil }
            .map { ($0.id, $0.captions) })
        let scores: CaptionScores
        do {
            scores = try CaptionEvaluator.evaluate(references: references, candidates: matching.captions)
        } catch {
            Terminal.standardError("glimpse: \(error)")
            throw ExitCode(1)
        }
        let content = groundTruth.flatMap { contentScores(of: matching, groundTruth: $0, line: contentLine) }
        if let perImagePath {
            try writePerImage(scores, matching: matching, references: references, content: content, to: perImagePath)
        }
        var summary: [String: Any] = [
            "split": split.rawValue,
            "images": matching.captions.count,
            "images_in_split": images.count,
            "missing_predictions": matching.missing.count,
            "unknown_predictions": matching.unknown.count,
            "not_computed": ["METEOR", "SPICE"],
        ]
        for metric in CaptionMetric.allCases where metric.isComputed {
            summary[metric.rawValue] = scores.value(of: metric)
        }
        if let content { summary["content"] = JSONText.object(content.summary) }
        for (key, value) in extra { summary[key] = value }
        return ScoreReport(summary: summary, scores: scores, imagesScored: matching.captions.count,
                           imagesInSplit: images.count, content: content)
    }

    /// Up to five ids, then how many there are in all.
    private static func list(_ ids: [String]) -> String {
        ids.prefix(5).joined(separator: ", ") + (ids.count > 5 ? ", ... (\(ids.count) in all)" : "")
    }

    /// Split images without a prediction, predictions for other images and images predicted
    /// twice, each on standard error.
    private static func reportMismatches(_ matching: Predictions.Matching, split: SplitChoice) {
        if !matching.missing.isEmpty {
            Terminal.standardError("glimpse: \(Plural.counted(matching.missing.count, split == .all ? "image" : "\(split) image")) "
                                   + "\(matching.missing.count == 1 ? "has" : "have") no prediction: \(list(matching.missing))")
        }
        if !matching.unknown.isEmpty {
            Terminal.standardError("glimpse: \(Plural.counted(matching.unknown.count, "prediction")) "
                                   + "\(matching.unknown.count == 1 ? "names an image" : "name images") not in the \(split) split: "
                                   + list(matching.unknown))
        }
        if !matching.ambiguous.isEmpty {
            Terminal.standardError("glimpse: \(Plural.counted(matching.ambiguous.count, "prediction")) name a file name several images share "
                                   + "(give the path relative to the dataset folder): \(list(matching.ambiguous))")
        }
        if !matching.duplicates.isEmpty {
            Terminal.standardError("glimpse: \(Plural.counted(matching.duplicates.count, "image")) predicted more than once "
                                   + "(first caption used): \(list(matching.duplicates))")
        }
    }

    /// The content scores of the captions that have ground truth (nil when none has), with
    /// the captions that have none and (with `line`) the summary line on standard error.
    private static func contentScores(of matching: Predictions.Matching,
                                      groundTruth: [String: GroundTruth], line: Bool) -> ContentScores? {
        let uncovered = matching.captions.keys.filter { groundTruth[$0] == nil }.sorted()
        if !uncovered.isEmpty {
            Terminal.standardError("glimpse: \(uncovered.count) captioned image(s) have no ground truth and no content scores: \(list(uncovered))")
        }
        let scored = ContentEvaluator.evaluate(captions: matching.captions, groundTruth: groundTruth)
        guard scored.captions > 0 else { return nil }
        if line { Terminal.standardError("content: " + scored.summary.text) }
        return scored
    }

    /// The per-image scores as JSON Lines, worst CIDEr-D first, written atomically to `path`.
    private static func writePerImage(_ scores: CaptionScores, matching: Predictions.Matching,
                                      references: [String: [String]], content: ContentScores?,
                                      to path: String) throws {
        var lines = ""
        for id in scores.imagesRanked(by: .ciderD) {
            guard let image = scores.perImage[id] else { continue }
            var object: [String: Any] = [
                "image_id": id, "caption": matching.captions[id] ?? "",
                "Bleu_4": image.bleu4, "ROUGE_L": image.rougeL, "CIDEr": image.ciderD,
                "references": references[id] ?? [],
            ]
            if let judged = content?.perImage[id] {
                var fields: [String: Any] = ["exact": judged.exact, "mistakes": judged.mistakes]
                if let error = judged.parseError { fields["parse_error"] = error.reason }
                object["content"] = fields
            }
            lines += JSONText.line(object) + "\n"
        }
        do {
            try FileBytes.writeAtomically(Array(lines.utf8), to: path)
        } catch {
            Terminal.standardError("glimpse: \(error)")
            throw ExitCode(1)
        }
    }
}

