import GlimpseSupport
import Foundation
import GlimpseData
import GlimpseImage
import GlimpseModel
import GlimpseSynth
#if canImport(Glibc)
import Glibc
#endif

/// The files of a run folder.
public struct RunLayout: Sendable {
    public let directory: String
    public init(directory: String) { self.directory = directory }

    public var best: String { directory + "/best.safetensors" }
    /// The link to the latest complete checkpoint set (`CheckpointSet`): a folder.
    public var lastSet: String { directory + "/last" }
    /// The latest weights: a fixed link to `last/model.safetensors`.
    public var last: String { directory + "/last.safetensors" }
    public var lastState: String { lastSet + "/" + CheckpointSet.stateFile }
    /// Best score, plateau counters, epochs done: what the loop itself needs to resume.
    public var progress: String { lastSet + "/" + CheckpointSet.progressFile }
    public var log: String { directory + "/log.jsonl" }
    public var vocabulary: String { directory + "/vocab.txt" }
    public var configuration: String { directory + "/config.json" }
    public var defaultCache: String { directory + "/cache" }
}

/// `RUN_DIR/config.json`: the options and what was derived from the data.
public struct RunConfiguration: Codable, Sendable, Equatable {
    public var options: TrainingOptions
    public var model: ModelConfiguration
    public var dataset: String
    public var datasetFormat: DatasetFormat
    /// The minimum word count actually used (see `TrainingOptions.adaptMinimumWordCount`).
    public var minimumWordCount: Int
    public var trainingImages: Int
    public var validationImages: Int
}

/// The loop's own bookkeeping, saved in the checkpoint set with `last` so a resumed run decides
/// plateaus and early stopping exactly as the uninterrupted run would.
public struct RunProgress: Codable, Sendable, Equatable {
    /// Best validation score so far: CIDEr-D, or the exact-match share when selecting by content
    /// (or, without a validation split, minus the best mean training loss).
    public var bestScore: Double? = nil
    /// When selecting by content: the CIDEr-D of the best validation, which breaks ties.
    public var bestTiebreak: Double? = nil
    public var bestEpoch: Int? = nil
    public var epochsWithoutImprovement = 0
    public var epochsSinceLearningRateChange = 0
    public var completedEpochs = 0
    public var finished = false
    /// The sum and count of the step losses of the epoch under way, for a set saved inside it
    /// (`saveEvery`, a stop): the resumed run ends the epoch with the mean an uninterrupted one
    /// has, which picks `best` when there is no validation split. nil at an epoch's end.
    public var epochLossSum: Double? = nil
    public var epochLossCount: Int? = nil
}

/// The run folder's JSON files (configuration, progress, set manifests) and log lines:
/// sorted keys, and non-finite numbers as the strings "inf", "-inf" and "nan".
enum JSONFile {
    static func encoder(pretty: Bool) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted] : [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    /// Reads what `encoder` writes, non-finite numbers included (a diverged step's loss).
    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }

    static func encode<Value: Encodable>(_ value: Value) -> [UInt8] {
        // Encoding plain structs of numbers and strings cannot fail.
        Array((try? encoder(pretty: true).encode(value)) ?? Data("{}".utf8)) + [0x0A]
    }

    static func write<Value: Encodable>(_ value: Value, to path: String) throws(TrainingError) {
        do { try FileBytes.writeAtomically(encode(value), to: path) } catch { throw .write(error) }
    }

    static func read<Value: Decodable>(_ type: Value.Type, from path: String) throws(TrainingError) -> Value {
        do {
            return try JSONDecoder().decode(type, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw .cannotResume(path: path, reason: ErrorText.describe(error))
        }
    }
}

/// One line of `log.jsonl`.
public struct LogRecord: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case step, validation, stop }
    public var kind: Kind
    public var step: Int
    public var epoch: Int
    public var loss: Float? = nil
    public var crossEntropy: Float? = nil
    public var attentionPenalty: Float? = nil
    /// The word-detection loss before β; only for models with the head.
    public var wordDetection: Float? = nil
    public var gradientNorm: Float? = nil
    /// Self-critical steps: the mean CIDEr-D of the sampled captions.
    public var reward: Double? = nil
    public var learningRate: Double? = nil
    public var imagesPerSecond: Double? = nil
    /// A data-parallel step's seconds in the gradient exchange (waiting for the slowest rank included).
    public var allreduceSeconds: Double? = nil
    public var bleu4: Double? = nil
    public var ciderD: Double? = nil
    public var validationImages: Int? = nil
    /// The content scores of the validation captions, when the dataset has ground truth.
    public var content: ContentSummary? = nil
    public var best: Bool? = nil
    public var reason: String? = nil

    enum CodingKeys: String, CodingKey {
        case kind, step, epoch, loss, crossEntropy = "cross_entropy", attentionPenalty = "attention_penalty",
             wordDetection = "word_detection",
             gradientNorm = "grad_norm", reward, learningRate = "lr", imagesPerSecond = "images_per_second",
             allreduceSeconds = "allreduce_seconds",
             bleu4 = "bleu4", ciderD = "cider_d", validationImages = "validation_images", content, best, reason
    }
}

/// Appends JSON Lines with O_APPEND, one write(2) per line, so a crash leaves whole
/// lines; `sync()` (before each save) makes them durable. Holds an `flock` on the log for
/// the run's life: a second process on the same run folder is refused, named.
final class LogWriter {
    let path: String
    private let descriptor: Int32
    private let encoder: JSONEncoder

    init(path: String) throws(TrainingError) {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw .file(path: path, reason: String(cString: strerror(errno)))
        }
        switch FileLock.tryExclusive(descriptor) {
        case .success: break
        case .failure(.held(let holder)):
            close(descriptor)
            throw .runInUse(directory: FileBytes.parentDirectory(of: path), holder: holder?.description)
        case .failure(.system(let message)):
            close(descriptor)
            throw .file(path: path, reason: "cannot lock: \(message)")
        }
        encoder = JSONFile.encoder(pretty: false)
    }

    deinit { close(descriptor) }

    func append(_ record: LogRecord) throws(TrainingError) {
        let line = Array((try? encoder.encode(record)) ?? Data()) + [0x0A]
        let written = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == line.count else {
            throw .file(path: path, reason: written < 0 ? String(cString: strerror(errno)) : "short write")
        }
    }

    /// Cuts the log back to the records of steps up to `step`: what a run resumed at `step`
    /// has already written. Everything from the first later record on (and a line left
    /// half-written by a crash) goes, so the resumed run's records are not duplicated.
    static func cut(_ path: String, afterStep step: Int) throws(TrainingError) {
        guard FileManager.default.fileExists(atPath: path) else { return }
        let bytes: [UInt8]
        do { bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw .file(path: path, reason: ErrorText.describe(error))
        }
        struct Step: Decodable { var step: Int }
        var keep = 0
        while keep < bytes.count {
            guard let newline = bytes[keep...].firstIndex(of: 0x0A),
                  let record = try? JSONDecoder().decode(Step.self, from: Data(bytes[keep..<newline])),
                  record.step <= step else { break }
            keep = newline + 1
        }
        guard keep < bytes.count else { return }
        guard truncate(path, off_t(keep)) == 0 else { throw .file(path: path, reason: String(cString: strerror(errno))) }
    }

    func sync() throws(TrainingError) {
        guard fsync(descriptor) == 0 else {
            throw .file(path: path, reason: String(cString: strerror(errno)))
        }
    }
}
