import ArgumentParser
import Foundation
import GlimpseCaptioning
import GlimpseData
import GlimpseImage
import GlimpseModel
import GlimpseSynth
import GlimpseSupport

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Caption a dataset split with a model and score the captions.",
        discussion: """
        Captions every image of the split (in batches, with the beam search options) and \
        prints one JSON object: the metrics of `glimpse score`, the number of images, and \
        the decoding settings and model used. Images that cannot be read are reported on \
        standard error and counted, not fatal. --output writes the captions in the COCO \
        results format, which `glimpse score` reads back. When the dataset has ground truth \
        (ground_truth.jsonl, as `glimpse synth` writes it), the content scores too: under \
        "content", and as a line on standard error (see Docs/content.md).
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
            Terminal.standardError("glimpse: \(unreadable) of \(images.count) image(s) could not be read and have no caption")
        }
        let settings: [(String, Any)] = [
            ("model", model.resolvedPath ?? ""),
            ("beam", options.beamSize),
            ("max_length", options.maximumLength),
            ("length_normalization", options.lengthNormalization.map { $0 as Any } ?? NSNull()),
            ("suppress_unknown", options.suppressUnknown),
            ("unreadable_images", unreadable),
        ]
        print(try Scoring.score(matching: predictions.match(images), images: images, split: split,
                                groundTruth: groundTruth, perImagePath: perImage, extra: settings))
    }

    /// Images with a COCO id (the COCO layout, or Karpathy's `cocoid`) are named by that
    /// number in the results format; others by their path relative to the dataset.
    static func isNumericID(_ image: DatasetImage, in dataset: Dataset) -> Bool {
        (dataset.format == .coco || dataset.format == .karpathy) && Int64(image.id) != nil
    }
}
