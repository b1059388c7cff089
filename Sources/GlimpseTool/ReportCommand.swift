import ArgumentParser
import Foundation
import GlimpseCaptioning
import GlimpseData
import GlimpseImage
import GlimpseModel
import GlimpseSupport
import GlimpseTensor
import GlimpseTraining
#if canImport(Glibc)
import Glibc
#endif

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write one self-contained HTML page about a training run.",
        discussion: """
        Reads a run folder made by `glimpse train` (it may still be training, or have been \
        stopped) and writes one HTML file that needs nothing else, not even a network: the \
        loss, cross-entropy and validation scores over the steps as charts, the run's \
        configuration, how and why it stopped, its best checkpoint, and validation images with \
        the best checkpoint's greedy captions, their reference captions and, per word, where \
        the model looked. What the folder lacks (no best checkpoint yet, no log) is said on \
        the page and on standard error.
        """)

    @Argument(help: "The run folder (the --out of glimpse train).", completion: .directory)
    var runDirectory: String

    @Option(name: .shortAndLong, help: ArgumentHelp("The page to write (default: RUN_DIR/report.html).", valueName: "page.html"))
    var output: String?

    @Option(help: "Validation images to show with captions and attention (0 to \(maxImages)).")
    var images = 8

    @Option(help: ArgumentHelp("The dataset folder, when it has moved since training (default: the one in config.json).",
                               valueName: "path"))
    var dataset: String?

    @Option(help: "Cores to use for captioning the validation images.")
    var threads = 2

    static let maxImages = 100
    /// Side of each word's attention overlay, in pixels: a strip of them per image stays a few kilobytes each.
    static let overlaySize = 96

    func validate() throws {
        if images < 0 || images > Self.maxImages {
            throw ValidationError("--images must be from 0 to \(Self.maxImages), got \(images).")
        }
        if threads < 1 || threads > Limits.threads {
            throw ValidationError("--threads must be from 1 to \(Limits.threads), got \(threads).")
        }
    }

    func run() throws {
        let history: RunHistory
        do { history = try RunHistory.read(runDirectory) } catch { throw ToolFailure(error.description) }
        let destination = output ?? runDirectory + "/report.html"
        if FileName.withSystemPath(destination, { access($0, F_OK) }) == 0,
           !HTMLGallery.isGalleryPage(destination, generatorTag: ReportPage.generatorTag) {
            throw ToolFailure("\(destination): exists and is not a page of an earlier glimpse report, so it is left untouched; "
                              + "choose another --output or remove it")
        }
        let (examples, examplesNote) = validationExamples(history)
        let page = ReportPage.page(history: history, examples: examples, examplesNote: examplesNote)
        do { try FileBytes.writeAtomically(Array(page.utf8), to: destination) } catch { throw ToolFailure(error.description) }

        for note in history.notes { Terminal.standardError("glimpse: note: \(note)") }
        if let examplesNote { Terminal.standardError("glimpse: note: \(examplesNote)") }
        let charts = ReportPage.charts(history).count
        let shown = examples.filter { $0.caption != nil }.count
        print("\(PlainText.escapedPath(destination)): \(charts) chart\(charts == 1 ? "" : "s"), "
              + "\(shown) validation image\(shown == 1 ? "" : "s") with attention, \(page.utf8.count / 1024) KB; "
              + ReportPage.status(history))
    }

    /// The first `images` validation images captioned by the best checkpoint as validation
    /// captions them (greedy, at most 30 words), through the one captioning pipeline; or why none are shown.
    func validationExamples(_ history: RunHistory) -> ([ReportPage.Example], String?) {
        guard images > 0 else { return ([], nil) }
        guard let bestPath = history.bestCheckpoint else {
            return ([], "No validation images: the run has no best checkpoint yet to caption them with.")
        }
        guard let configuration = history.configuration else {
            return ([], "No validation images: config.json, which names the dataset, is missing.")
        }
        let root = dataset ?? configuration.dataset
        let loaded: Dataset
        do {
            loaded = try DatasetLoader(splitter: DatasetSplitter(seed: configuration.options.splitSeed ?? 0))
                .load(root, format: configuration.datasetFormat)
        } catch {
            return ([], "No validation images: the dataset cannot be read (\(error.description)); "
                    + "if it has moved, give its folder with --dataset.")
        }
        let chosen = Array(loaded.images(in: .validation).filter { !$0.captions.isEmpty }.prefix(images))
        guard !chosen.isEmpty else { return ([], "No validation images: the dataset \(root) has no validation split with captions.") }
        let checkpoint: Checkpoint
        do { checkpoint = try Checkpoint(contentsOf: bestPath) } catch {
            return ([], "No validation images: \(error.description)")
        }
        Parallel.use(cores: threads)
        let captioner = Captioner(checkpoint: checkpoint)
        let grid = checkpoint.model.configuration.gridSize
        // Validation's own search (`TrainingRun.validate`), with the attention kept.
        let options = DecodingOptions(beamSize: 1, maximumLength: 30, keepsAttention: true)
        var examples: [ReportPage.Example] = []
        let source = AnyIterator(chosen.map { (path: $0.path, tag: $0) }.makeIterator())
        captioner.captionAll(source, batchSize: 8, workers: threads, options: options, keepImage: true) { batch in
            for item in batch {
                var example = ReportPage.Example(label: item.tag.id, references: item.tag.captions)
                guard let result = item.result, let image = item.image else {
                    example.error = item.error ?? "unreadable"
                    examples.append(example)
                    continue
                }
                let hypothesis = result.best
                let words = checkpoint.vocabulary.decode(hypothesis.tokens)
                example.caption = words.joined(separator: " ")
                example.logProbability = Double(hypothesis.logProbability)
                do {
                    example.image = try ReportPage.dataURI(image)
                    let longest = max(image.width, image.height)
                    let small = Resampler.resize(image, width: max(1, image.width * Self.overlaySize / longest),
                                                 height: max(1, image.height * Self.overlaySize / longest))
                    for (word, attention) in zip(words, hypothesis.attention) {
                        let overlay = AttentionSheet.heatMap(over: small, attention: attention, grid: grid)
                        example.attention.append((word, try ReportPage.dataURI(overlay)))
                    }
                } catch {
                    example.error = "\(error)"
                }
                examples.append(example)
            }
        }
        return (examples, nil)
    }
}
