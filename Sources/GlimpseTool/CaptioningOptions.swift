import GlimpseTraining
import ArgumentParser
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
        do {
            return try Checkpoint(contentsOf: path)
        } catch {
            throw ToolFailure(error.description)
        }
    }
}

/// Where the default model lives.
///
/// The repository keeps it at `Sources/GlimpseTool/Resources/default-model.safetensors`;
/// SwiftPM copies that folder next to the built executable, as
/// `glimpse_GlimpseTool.resources/Resources/`. Looked up by path (not through `Bundle.module`,
/// whose accessor stops the process when the bundle is missing).
enum ModelLocator {
    static let fileName = "default-model.safetensors"

    static func defaultCandidates() -> [String] {
        var candidates: [String] = []
        if let environment = ProcessInfo.processInfo.environment["GLIMPSE_MODEL"], !environment.isEmpty {
            candidates.append(environment)
        }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        let folder = (executable as NSString).deletingLastPathComponent
        candidates.append(folder + "/glimpse_GlimpseTool.resources/Resources/" + fileName)
        candidates.append(folder + "/../share/glimpse/" + fileName)
        return candidates
    }

    static func defaultModelPath() -> String? {
        defaultCandidates().first { FileManager.default.isReadableFile(atPath: $0) }
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

/// Decoded images in, captions out: the one path every captioning command uses,
/// with the checkpoint's own preprocessing.
struct Captioner {
    let checkpoint: Checkpoint
    let decoder = ImageDecoder()

    /// A decoded, preprocessed image, or why it failed.
    struct Prepared: Sendable {
        var path: String
        /// With `keepImage`: the image at the size of an attention sheet's panels
        /// (`AttentionSheet.panelImage`), all a sheet needs; never the full decoded image,
        /// which for a large photo is hundreds of megabytes.
        var image: RGBImage?
        /// [3, S, S]
        var input: [Float]?
        var error: String?
    }

    func prepare(_ path: String, keepImage: Bool = false) -> Prepared {
        do {
            let image = try decoder.decode(contentsOf: path).image
            return Prepared(path: path, image: keepImage ? AttentionSheet.panelImage(image) : nil,
                            input: checkpoint.preprocessing(image), error: nil)
        } catch {
            return Prepared(path: path, image: nil, input: nil, error: error.reasonDescription)
        }
    }

    /// `prepare` for each path, decoded on `threads` workers; results in path order.
    func prepare(_ paths: [String], threads: Int) -> [Prepared] {
        guard threads > 1, paths.count > 1 else { return paths.map { prepare($0) } }
        // Each worker writes only its own slots of a preallocated buffer.
        struct Slots: @unchecked Sendable { let base: UnsafeMutablePointer<Prepared?> }
        let slots = Slots(base: .allocate(capacity: paths.count))
        slots.base.initialize(repeating: nil, count: paths.count)
        defer { slots.base.deinitialize(count: paths.count); slots.base.deallocate() }
        let workers = min(threads, paths.count)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for index in stride(from: worker, to: paths.count, by: workers) {
                slots.base[index] = prepare(paths[index])
            }
        }
        return (0..<paths.count).map { slots.base[$0]! }
    }

    /// Captions for prepared images (those with an input), in order.
    func caption(_ inputs: [[Float]], options: DecodingOptions) -> [CaptionResult] {
        guard !inputs.isEmpty else { return [] }
        let size = checkpoint.preprocessing.imageSize
        let images = Tensor(shape: [inputs.count, 3, size, size], scalars: inputs.flatMap { $0 })
        return checkpoint.model.caption(images, options: options)
    }

    /// The words of a hypothesis, joined by spaces.
    func text(_ hypothesis: CaptionHypothesis) -> String {
        checkpoint.vocabulary.decode(hypothesis.tokens).joined(separator: " ")
    }
}

/// The ranges of the numeric flags that size work or memory (README, "Limits"): values past them
/// would only exhaust memory or disk, or overflow.
enum Limits {
    static let threads = TrainingOptions.Limits.threads
    /// Beam search keeps beam × (vocabulary) scores per image and step.
    static let beam = 100
    static let captionLength = 500
    static let captionBatch = 1024
}
