import ArgumentParser
import GlimpseCaptioning
import GlimpseTraining
import Foundation
import GlimpseData
import GlimpseImage
import GlimpseModel
import GlimpseTensor

/// Which model to caption with: shared by caption, batch and evaluate.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The model checkpoint (.safetensors). Default: $GLIMPSE_MODEL, else the model shipped with Glimpse.",
        valueName: "path"))
    var model: String?

    @Option(help: "Cores to use: compute workers (each on single-threaded OpenBLAS), and image decoding workers.")
    var threads = 2

    func validate() throws {
        if threads < 1 || threads > Limits.threads {
            throw ValidationError("--threads must be from 1 to \(Limits.threads), got \(threads).")
        }
    }

    /// The checkpoint's path: the flag, else $GLIMPSE_MODEL or the shipped default.
    var resolvedPath: String? { model ?? ModelLocator.defaultModelPath() }

    /// Loads the checkpoint, or explains why not.
    func load() throws -> Checkpoint {
        Parallel.use(cores: threads)
        guard let path = resolvedPath else {
            throw ToolFailure("no model: pass --model PATH (a checkpoint from `glimpse train`), or set GLIMPSE_MODEL; "
                              + "the default model was not found beside the executable (looked in "
                              + ModelLocator.defaultCandidates().joined(separator: ", ") + ")")
        }
        let checkpoint: Checkpoint
        do {
            checkpoint = try Checkpoint(contentsOf: path)
        } catch {
            throw ToolFailure(error.description)
        }
        if let problem = checkpoint.featureSummaryProblem {
            Terminal.standardError("glimpse: warning: \(problem); images unlike the model's training images will not be flagged "
                                   + "(glimpse calibrate gives the model a new summary)")
        }
        return checkpoint
    }
}

/// How captions are searched: shared by caption, batch and evaluate.
struct SearchOptions: ParsableArguments {
    @Option(help: "Beam size (1: greedy).")
    var beam = 3

    @Option(help: "Maximum caption length in words.")
    var maxLength = 30

    @Option(help: "Rank hypotheses by log-probability / length^ALPHA (e.g. 0.7) instead of the plain sum.")
    var lengthNormalization: Double?

    @Flag(help: "Allow the <unk> token in captions.")
    var allowUnknown = false

    @Option(help: "Images captioned together in one batch.")
    var batchSize = 16

    func validate() throws {
        if beam < 1 || beam > Limits.beam { throw ValidationError("--beam must be from 1 to \(Limits.beam), got \(beam).") }
        if maxLength < 1 || maxLength > Limits.captionLength {
            throw ValidationError("--max-length must be from 1 to \(Limits.captionLength), got \(maxLength).")
        }
        if batchSize < 1 || batchSize > Limits.captionBatch {
            throw ValidationError("--batch-size must be from 1 to \(Limits.captionBatch), got \(batchSize).")
        }
        if let lengthNormalization, !(lengthNormalization >= 0) {
            throw ValidationError("--length-normalization must be 0 or more, got \(lengthNormalization).")
        }
    }

    func decodingOptions(nBest: Int = 1, keepsAttention: Bool = false) -> DecodingOptions {
        DecodingOptions(beamSize: beam, maximumLength: maxLength, lengthNormalization: lengthNormalization,
                        nBest: min(max(1, nBest), beam), suppressUnknown: !allowUnknown, keepsAttention: keepsAttention)
    }
}

/// The ranges of the numeric flags that size work or memory (Docs/commands.md, "Limits of the
/// numeric flags"): values past them would only exhaust memory or disk, or overflow.
enum Limits {
    static let threads = TrainingOptions.Limits.threads
    /// Beam search keeps beam × (vocabulary) scores per image and step.
    static let beam = 100
    static let captionLength = 500
    static let captionBatch = 1024
}
