import ArgumentParser
import Foundation
import GlimpseCaptioning
import GlimpseData
import GlimpseImage
import GlimpseMetrics
import GlimpseModel
import GlimpseSynth
import GlimpseSupport

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Caption a dataset split with a model and score the captions.",
        discussion: """
        Captions every image of the split (in batches, with the beam search options) and \
        prints a table: the model, the split and its images, the search settings and the \
        metrics of `glimpse score`. --json prints one JSON object instead (the metrics under \
        pycocoevalcap's names, the numbers of images, and the settings), for scripts. Images \
        that cannot be read are reported on standard error and counted, not fatal; so is a \
        split too small for its metrics to mean much. --output writes the captions in the \
        COCO results format, which `glimpse score` reads back. When the dataset has ground \
        truth (ground_truth.jsonl, as `glimpse synth` writes it), the content scores too: in \
        the table, or under "content" with --json (and a line on standard error; see \
        Docs/content.md).
        """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var search: SearchOptions
    @OptionGroup var dataset: DatasetOptions

    @Option(help: "The split to caption and score: train, val, test, or all (every image).")
    var split: SplitChoice = .test

    @Option(help: ArgumentHelp("Also write the captions in the COCO results format.", valueName: "predictions.json"))
    var output: String?

    @Option(help: "Also write per-image scores (JSON Lines, worst CIDEr-D first) to this file.")
    var perImage: String?

    @Flag(help: "Print one JSON object (metrics under pycocoevalcap's names, image counts, settings) instead of the table.")
    var json = false

    func run() throws {
        let checkpoint: Checkpoint
        let loaded: Dataset
        let groundTruth: [String: GroundTruth]?
        do {
            checkpoint = try model.load()
            loaded = try dataset.load()
            groundTruth = try GroundTruthFile.load(captionSource: loaded.captionSource, root: loaded.root)
        } catch {
            Terminal.standardError("glimpse: \(error)")
            throw ExitCode(1)
        }
        let images = split.images(of: loaded)
        guard !images.isEmpty else {
            Terminal.standardError("glimpse: the \(split) split of \(dataset.dataDirectory) has no images")
            throw ExitCode(1)
        }
        let captioner = Captioner(checkpoint: checkpoint)
        let options = search.decodingOptions()
        let progress = ProgressReporter("captioning", total: images.count, unit: "images")
        var entries: [Predictions.Entry] = []
        var unreadable = 0
        var done = 0
        captioner.captionAll(AnyIterator(images.map { (path: $0.path, tag: $0) }.makeIterator()),
                             batchSize: search.batchSize, workers: model.threads, options: options) { batch in
            for item in batch {
                guard let result = item.result else {
                    unreadable += 1
                    Terminal.standardError("glimpse: \(item.path): \(item.error ?? "unreadable")")
                    continue
                }
                entries.append(Predictions.Entry(imageID: item.tag.id, imageIDIsNumber: Self.isNumericID(item.tag, in: loaded),
                                                 caption: captioner.text(result.best)))
            }
            done += batch.count
            progress.update(done)
        }
        progress.finish("captioned \(entries.count) of \(images.count) images")
        let predictions = Predictions(entries: entries)
        if let output {
            do {
                try FileBytes.writeAtomically(predictions.encoded(), to: output)
            } catch {
                Terminal.standardError("glimpse: \(error)")
                throw ExitCode(1)
            }
        }
        if unreadable > 0 {
            Terminal.standardError("glimpse: \(unreadable) of \(Plural.counted(images.count, "image")) "
                                   + "could not be read and \(unreadable == 1 ? "has" : "have") no caption")
        }
        let settings: [(String, Any)] = [
            ("model", model.resolvedPath ?? ""),
            ("beam", options.beamSize),
            ("max_length", options.maximumLength),
            ("length_normalization", options.lengthNormalization.map { $0 as Any } ?? NSNull()),
            ("suppress_unknown", options.suppressUnknown),
            ("unreadable_images", unreadable),
        ]
        let report = try Scoring.score(matching: predictions.match(images), images: images, split: split,
                                       groundTruth: groundTruth, contentLine: json, perImagePath: perImage, extra: settings)
        if json {
            print(report.jsonLine)
        } else {
            for line in table(report, options: options, unreadable: unreadable) { print(line) }
        }
    }

    /// The results for people: what was evaluated, then one metric a line.
    func table(_ report: ScoreReport, options: DecodingOptions, unreadable: Int) -> [String] {
        var images = "\(split): \(report.imagesScored) of \(Plural.counted(report.imagesInSplit, "image")) scored"
        if unreadable > 0 { images += " (\(unreadable) could not be read)" }
        var search = options.beamSize == 1 ? "greedy" : "beam \(options.beamSize)"
        search += ", at most \(Plural.counted(options.maximumLength, "word"))"
        if let alpha = options.lengthNormalization { search += ", length normalization \(alpha)" }
        if !options.suppressUnknown { search += ", <unk> allowed" }
        var lines = [
            "model    \(PlainText.escapedPath(model.resolvedPath ?? ""))",
            "split    \(images)",
            "search   \(search)",
            "",
        ]
        let names: [CaptionMetric: String] = [.bleu1: "BLEU-1", .bleu2: "BLEU-2", .bleu3: "BLEU-3", .bleu4: "BLEU-4",
                                              .rougeL: "ROUGE-L", .ciderD: "CIDEr-D"]
        for metric in CaptionMetric.allCases {
            guard let value = report.scores.value(of: metric) else { continue }
            lines.append((names[metric] ?? metric.rawValue).padding(toLength: 9, withPad: " ", startingAt: 0) + String(format: "%.4f", value))
        }
        lines.append("(METEOR and SPICE are not computed; --json prints these figures as JSON.)")
        if let content = report.content {
            lines.append("")
            // The summary's parts, one a line, aligned under the first.
            let parts = content.summary.text.components(separatedBy: "; ")
            lines += parts.enumerated().map { ($0.offset == 0 ? "content  " : "         ") + $0.element }
        }
        return lines
    }

    /// Images with a COCO id (the COCO layout, or Karpathy's `cocoid`) are named by that
    /// number in the results format; others by their path relative to the dataset.
    static func isNumericID(_ image: DatasetImage, in dataset: Dataset) -> Bool {
        (dataset.format == .coco || dataset.format == .karpathy) && Int64(image.id) != nil
    }
}
