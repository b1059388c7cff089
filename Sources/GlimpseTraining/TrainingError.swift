import Foundation
import GlimpseData
import GlimpseDistributed
import GlimpseImage
import GlimpseModel
import GlimpseSynth
import GlimpseSupport

/// Why a training run could not start or continue. Each case names the file or folder.
public enum TrainingError: Error, Sendable, CustomStringConvertible {
    case invalidOptions(String)
    case dataset(DatasetError)
    /// The dataset inspection's report: nothing left to train on.
    case noUsableTrainingImages(root: String, report: [String])
    case cache(ImageCacheError)
    case checkpoint(CheckpointError)
    case write(FileWriteError)
    /// A run file or folder that could not be created or appended to.
    case file(path: String, reason: String)
    /// A run folder that already holds a run, without `resume`.
    case runExists(directory: String)
    /// Another process is training in the run folder (its description, when known).
    case runInUse(directory: String, holder: String?)
    /// `resume` without the files it needs, or with files that do not fit together.
    case cannotResume(path: String, reason: String)
    case model(ModelConfigurationError)
    /// The dataset's ground_truth.jsonl is there but cannot be used.
    case groundTruth(GroundTruthError)
    /// The image cache would not fit on its disk: checked before filling it.
    case cacheTooLarge(directory: String, needed: Int, available: Int)
    /// Joining or talking to the other ranks of a data-parallel run (`mpirun -np N glimpse train`).
    case distributed(DistributedError)
    /// This rank's error, which every rank of a data-parallel run knows of (they agreed to stop
    /// together, so none waits for another); `everyRank`: every rank met an error here, so rank 0's
    /// message speaks for all.
    indirect case allRanksStopping(TrainingError, everyRank: Bool)

    public var description: String {
        switch self {
        case .invalidOptions(let problem): return problem
        case .dataset(let error): return error.description
        case .noUsableTrainingImages(let root, _): return "no usable training image in \(root)"
        case .cache(let error): return error.description
        case .checkpoint(let error): return error.description
        case .write(let error): return error.description
        case .file(let path, let reason): return "\(path): cannot write: \(reason)"
        case .runExists(let directory):
            return "\(directory) already holds a training run (a saved checkpoint set); pass --resume to continue it, or choose another folder"
        case .runInUse(let directory, let holder):
            return "\(directory): another glimpse train is running in this folder (\(holder ?? "its process is not listed")); "
                + "wait for it to finish, or choose another --out"
        case .cannotResume(let path, let reason): return "\(path): cannot resume: \(reason)"
        case .model(let error): return "model configuration: \(error.description)"
        case .groundTruth(let error): return error.description
        case .distributed(let error): return error.description
        case .allRanksStopping(let error, _): return error.description
        case .cacheTooLarge(let directory, let needed, let available):
            func gigabytes(_ bytes: Int) -> String {
                bytes >= 1_000_000_000 ? String(format: "%.1f GB", Double(bytes) / 1e9) : String(format: "%.1f MB", Double(bytes) / 1e6)
            }
            return "\(directory): the image cache needs \(gigabytes(needed)) more (3 × S² bytes an image) and the disk "
                + "has \(gigabytes(available)) free; choose a smaller --image-size or another --cache-dir"
        }
    }
}
