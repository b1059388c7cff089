import ArgumentParser
import Foundation
import GlimpseCaptioning
import GlimpseImage
import GlimpseModel
import GlimpseSupport

struct CaptionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "caption",
        abstract: "Caption images.",
        discussion: """
        Prints the caption of each image: just the caption for one image, PATH<TAB>caption \
        for several. --n-best N prints the N best, each with its log-probability. --json \
        prints one JSON object per image with the words, the log-probability and, per word, \
        the attention grid. A caption cut at --max-length before the model ended it ends \
        with "…" (in --json: "truncated": true). A file that cannot be read gets one line on standard error \
        naming it and the reason; the others are still captioned and the exit status is 1.
        """)

    @Argument(help: "Image files (folders are searched recursively).")
    var paths: [String]

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var searchOptions: SearchOptions

    @Option(help: "Print the N best captions with their log-probabilities (at most --beam).")
    var nBest = 1

    @Flag(help: "Print JSON Lines: path, words, log-probability and per-word attention grids.")
    var json = false

    @Option(help: "Write an attention sheet (PNG) per image into this folder: the caption, the image, and where each word looked.",
            completion: .directory)
    var attentionDir: String?

    @Option(help: "Colour each word's panel on its own scale (word), or all panels against one common maximum (shared), so that words whose attention is spread evenly stay dark.")
    var attentionScale: AttentionSheet.Scale = .eachWord

    func validate() throws {
        if paths.isEmpty { throw ValidationError("Give at least one image file.") }
        if attentionScale != .eachWord && attentionDir == nil {
            throw ValidationError("--attention-scale sets how attention sheets are coloured: give --attention-dir too.")
        }
        if nBest < 1 { throw ValidationError("--n-best must be at least 1, got \(nBest).") }
        if nBest > searchOptions.beam {
            throw ValidationError("--n-best \(nBest) needs a beam at least that wide (--beam \(searchOptions.beam)).")
        }
    }

    func run() throws {
        let checkpoint = try modelOptions.load()
        let captioner = Captioner(checkpoint: checkpoint)
        let keepsAttention = json || attentionDir != nil
        let options = searchOptions.decodingOptions(nBest: nBest, keepsAttention: keepsAttention)
        let walk = ImageFiles.all(paths)
        let several = walk.files.count > 1
        let grid = checkpoint.model.configuration.gridSize
        var failures = 0
        var truncated = 0
        var sheetNames = SheetNames()

        for problem in walk.problems {
            failures += 1
            Terminal.standardError("\(problem.path): \(problem.reason)")
        }
        if let attentionDir {
            do { try FileBytes.makeDirectories(attentionDir) } catch { throw ToolFailure(error.description) }
        }

        // A batch at a time, decoded ahead on --threads workers: memory is bounded by the queue.
        let source = AnyIterator(walk.files.map { (path: $0.path, tag: ()) }.makeIterator())
        captioner.captionAll(source, batchSize: searchOptions.batchSize, workers: modelOptions.threads, options: options,
                             keepImage: attentionDir != nil) { batch in
            for item in batch {
                guard let result = item.result else {
                    failures += 1
                    Terminal.standardError("\(FileName.shown(item.path)): \(item.error ?? "unreadable")")
                    if json {
                        print(JSONLine.object(JSONLine.pathFields("path", item.path).map { ($0.0, .string($0.1)) }
                                              + [("error", .string(item.error ?? ""))]))
                    }
                    continue
                }
                if !result.best.isComplete { truncated += 1 }
                if json {
                    print(Self.jsonLine(path: item.path, result: result, captioner: captioner, grid: grid))
                } else if nBest > 1 {
                    for hypothesis in result.hypotheses {
                        let line = String(format: "%.4f", hypothesis.logProbability) + "\t"
                            + PlainText.caption(captioner.text(hypothesis), truncated: !hypothesis.isComplete)
                        print(several ? PlainText.escapedPath(item.path) + "\t" + line : line)
                    }
                } else {
                    let text = PlainText.caption(captioner.text(result.best), truncated: !result.best.isComplete)
                    print(several ? PlainText.escapedPath(item.path) + "\t" + text : text)
                }
                if let familiarity = result.familiarity, familiarity.isUnfamiliar {
                    Terminal.standardError(Unfamiliar.warning(path: item.path, familiarity))
                }
                if let attentionDir, let image = item.image {
                    let destination = attentionDir + "/" + sheetNames.name(for: item.path)
                    do {
                        try AttentionSheets.write(image: image, hypothesis: result.best, captioner: captioner, scale: attentionScale,
                                                  to: destination)
                    } catch {
                        failures += 1
                        Terminal.standardError("\(error)")
                    }
                }
            }
        }
        if truncated > 0 {
            Terminal.standardError(PlainText.truncationNote(truncated, maxLength: searchOptions.maxLength,
                                                            marked: json ? "\"truncated\": true" : "marked …"))
        }
        if walk.files.isEmpty && walk.problems.isEmpty {
            Terminal.standardError("glimpse: no image files found")
            throw ExitCode(1)
        }
        if failures > 0 {
            if several { Terminal.standardError("glimpse: \(failures) of \(walk.files.count) image(s) failed") }
            throw ExitCode(1)
        }
    }

    static func jsonLine(path: String, result: CaptionResult, captioner: Captioner, grid: Int) -> String {
        func describe(_ hypothesis: CaptionHypothesis, withAttention: Bool) -> [String: Any] {
            let words = captioner.checkpoint.vocabulary.decode(hypothesis.tokens)
            var object: [String: Any] = [
                "tokens": words, "caption": words.joined(separator: " "),
                "logprob": JSONNumber.rounded(hypothesis.logProbability), "complete": hypothesis.isComplete,
                // The opposite of "complete", under the name people look for; "complete" stays for existing readers.
                "truncated": !hypothesis.isComplete,
            ]
            if withAttention {
                object["attention"] = hypothesis.attention.map { AttentionSheets.grid($0, side: grid) }
            }
            return object
        }
        var object = describe(result.best, withAttention: true)
        for (key, value) in JSONLine.pathFields("path", path) { object[key] = value }
        object["grid"] = grid
        for (key, value) in Unfamiliar.jsonFields(result.familiarity) { object[key] = value }
        if result.hypotheses.count > 1 {
            object["n_best"] = result.hypotheses.map { describe($0, withAttention: false) }
        }
        return JSONText.line(object)
    }
}


/// Saying that an image looks unlike a model's training images (`FeatureSummary`), shared by
/// caption and batch.
enum Unfamiliar {
    static func warning(path: String, _ familiarity: Familiarity) -> String {
        "glimpse: warning: \(FileName.shown(path)) looks unlike the images this model was trained on "
            + "(feature distance \(String(format: "%.1f", familiarity.distance)), above its threshold "
            + "\(String(format: "%.1f", familiarity.threshold))): the caption is likely wrong"
    }

    /// `unfamiliar` and `familiarity_distance`; nothing for a model without a feature summary.
    static func jsonFields(_ familiarity: Familiarity?) -> [(String, Any)] {
        guard let familiarity else { return [] }
        return [("unfamiliar", familiarity.isUnfamiliar),
                ("familiarity_distance", familiarity.distance.isFinite ? JSONNumber.rounded(familiarity.distance) as Any : NSNull())]
    }
}

extension AttentionSheet.Scale: ExpressibleByArgument {}

/// Writing attention sheets, shared by caption and batch.
enum AttentionSheets {
    /// One word's α over P locations as g rows of g values.
    static func grid(_ weights: [Float], side: Int) -> [[Double]] {
        (0..<side).map { row in (0..<side).map { JSONNumber.rounded(weights[row * side + $0]) } }
    }

    static func write(image: RGBImage, hypothesis: CaptionHypothesis, captioner: Captioner, scale: AttentionSheet.Scale,
                      to path: String) throws(ImageWritingError) {
        let words = captioner.checkpoint.vocabulary.decode(hypothesis.tokens)
        let sheet = AttentionSheet.render(image: image, words: words, attention: hypothesis.attention,
                                          grid: captioner.checkpoint.model.configuration.gridSize, scale: scale)
        try PNGWriter.write(sheet, to: path)
    }
}

/// Sheet file names for `caption --attention-dir`: the image's name + ".png", with a
/// counter when two images share a name (a/cat.jpg and b/cat.jpg).
struct SheetNames {
    private var used: Set<String> = []

    mutating func name(for path: String) -> String {
        let base = (path as NSString).lastPathComponent
        var candidate = base + ".png"
        var counter = 2
        while used.contains(candidate) {
            candidate = "\(base)-\(counter).png"
            counter += 1
        }
        used.insert(candidate)
        return candidate
    }
}
