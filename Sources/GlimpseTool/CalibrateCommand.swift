import ArgumentParser
import Foundation
import GlimpseCaptioning
import GlimpseModel
import GlimpseSupport
import GlimpseTensor

struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Teach a model which images look like its training images, so it can flag the others.",
        discussion: """
        Measures the mean and covariance of the encoder's features over IMAGES (the model's \
        training images, or images of the same kind), sets the threshold that the given share \
        of held-out images of that kind stays under (--quantile), and stores this summary in the \
        model file (rewritten atomically, or written to --out). `caption` and `batch` then flag \
        images whose features lie beyond the threshold as unfamiliar: their captions are likely \
        wrong. `glimpse train` stores a summary in every best.safetensors itself; this command \
        gives one to an older model, or recalibrates one (Docs/model.md, "Knowing what it does \
        not know").
        """)

    @Argument(help: "The model to calibrate (.safetensors).")
    var model: String

    @Argument(help: "Images the model was trained on, or images of the same kind (folders are searched recursively).")
    var images: [String]

    @Option(help: "Held-out images of the same kind, not among IMAGES, that set the threshold. Default: every fifth of IMAGES.")
    var heldOut: [String] = []

    @Option(help: "The share of held-out images to pass as familiar (0.5 to 0.9999).")
    var quantile = FeatureSummary.defaultQuantile

    @Option(help: "Write the calibrated model here instead of rewriting MODEL.")
    var out: String?

    @Option(help: "Cores to use.")
    var threads = 2

    func validate() throws {
        if images.isEmpty { throw ValidationError("Give the images the model was trained on (files or folders).") }
        if !(quantile >= 0.5 && quantile <= 0.9999) { throw ValidationError("--quantile must be from 0.5 to 0.9999, got \(quantile).") }
        if threads < 1 || threads > Limits.threads {
            throw ValidationError("--threads must be from 1 to \(Limits.threads), got \(threads).")
        }
    }

    func run() throws {
        var checkpoint: Checkpoint
        do { checkpoint = try Checkpoint(contentsOf: model) } catch { throw ToolFailure(error.description) }
        Parallel.use(cores: threads)
        var training = try Self.files(images)
        var heldOutFiles = try heldOut.isEmpty ? [] : Self.files(heldOut)
        if heldOut.isEmpty { (training, heldOutFiles) = FeatureSummary.holdingOutEveryFifth(training) }
        guard !training.isEmpty, !heldOutFiles.isEmpty else {
            throw ToolFailure("calibration needs images to measure and held-out images to set the threshold: "
                              + "found \(training.count) and \(heldOutFiles.count)")
        }
        let progress = ProgressReporter("calibrate", total: training.count + heldOutFiles.count, unit: "images")
        var unreadable = 0
        let summary: FeatureSummary
        do {
            summary = try Captioner(checkpoint: checkpoint).featureSummary(
                training: training, heldOut: heldOutFiles, workers: threads, quantile: quantile,
                unreadable: { path, reason in
                    unreadable += 1
                    progress.note("\(FileName.shown(path)): \(reason)")
                },
                progress: { progress.update($0) })
        } catch {
            throw ToolFailure("\(model): cannot calibrate: \(error)" + (unreadable > 0 ? " (\(unreadable) files unreadable)" : ""))
        }
        checkpoint.featureSummary = summary
        let destination = out ?? model
        do { try checkpoint.write(to: destination) } catch { throw ToolFailure(error.description) }
        let calibration = summary.calibration
        progress.finish("measured \(Plural.counted(calibration.imageCount, "image")), threshold "
                        + String(format: "%.2f", calibration.threshold) + " (\(String(format: "%g", calibration.quantile * 100))% of "
                        + "\(Plural.counted(calibration.heldOutImageCount, "held-out image")) at or below it)"
                        + (unreadable > 0 ? ", \(unreadable) unreadable" : "") + "; wrote \(destination)")
    }

    static func files(_ arguments: [String]) throws -> [String] {
        let walk = ImageFiles.all(arguments)
        for problem in walk.problems { Terminal.standardError("\(FileName.shown(problem.path)): \(problem.reason)") }
        return walk.files.map(\.path)
    }
}
