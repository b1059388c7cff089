import Foundation
import GlimpseLayers
import GlimpseSafeTensors
import GlimpseTensor

/// Where the caller's data pipeline was: opaque integers Glimpse stores and gives back.
public struct DataPosition: Codable, Equatable, Sendable {
    public var epoch: Int
    /// The next batch to train on within the epoch.
    public var batchIndex: Int
    /// The seed the epoch's shuffle was drawn from.
    public var shuffleSeed: UInt64

    public init(epoch: Int, batchIndex: Int, shuffleSeed: UInt64) {
        self.epoch = epoch
        self.batchIndex = batchIndex
        self.shuffleSeed = shuffleSeed
    }
}

/// Everything besides the model that training needs to resume exactly: Adam's moments
/// and step count, the random generator's state and the data position. Saved beside
/// the checkpoint (`model.safetensors` → `model.state.safetensors`) as safetensors:
/// moments as tensors `adam.exp_avg.<parameter>` and `adam.exp_avg_sq.<parameter>`,
/// the rest as JSON in `__metadata__` (the generator's 64-bit words exactly).
public struct TrainingState: Sendable {
    public var optimizer: Adam
    public var generator: SeededGenerator
    public var dataPosition: DataPosition

    public static let format = "glimpse-training-state"
    public static let formatVersion = 1

    public init(optimizer: Adam, generator: SeededGenerator, dataPosition: DataPosition) {
        self.optimizer = optimizer
        self.generator = generator
        self.dataPosition = dataPosition
    }

    /// The conventional path of the state file for a checkpoint at `checkpointPath`.
    public static func path(besideCheckpoint checkpointPath: String) -> String {
        let suffix = ".safetensors"
        let stem = checkpointPath.hasSuffix(suffix) ? String(checkpointPath.dropLast(suffix.count)) : checkpointPath
        return stem + ".state" + suffix
    }

    private struct Header: Codable {
        var stepCount: Int
        var learningRate: Double
        var beta1: Double
        var beta2: Double
        var epsilon: Double
        var weightDecay: Double
        var generatorState: [UInt64]
        var dataPosition: DataPosition
    }

    private static let firstMomentPrefix = "adam.exp_avg.", secondMomentPrefix = "adam.exp_avg_sq."

    /// Writes the state atomically. Moments of parameters Adam has not yet seen are not
    /// written (they are zero).
    public func write(to path: String) throws(CheckpointError) {
        var tensors: [String: ShapedArray<Float>] = [:]
        for (name, moment) in optimizer.firstMoments {
            tensors[TrainingState.firstMomentPrefix + name] = ShapedArray(shape: moment.shape, values: moment.scalars)
        }
        for (name, moment) in optimizer.secondMoments {
            tensors[TrainingState.secondMomentPrefix + name] = ShapedArray(shape: moment.shape, values: moment.scalars)
        }
        let header = Header(stepCount: optimizer.stepCount, learningRate: optimizer.learningRate, beta1: optimizer.beta1,
                            beta2: optimizer.beta2, epsilon: optimizer.epsilon, weightDecay: optimizer.weightDecay,
                            generatorState: generator.state, dataPosition: dataPosition)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json: String
        do {
            json = String(decoding: try encoder.encode(header), as: UTF8.self)
        } catch {
            throw CheckpointError(path: path, reason: .badMetadata(key: "state", problem: "\(error)"))
        }
        do {
            try SafeTensorsWriter.write(tensors, metadata: [
                "format": TrainingState.format, "format_version": String(TrainingState.formatVersion), "state": json,
            ], to: path)
        } catch {
            throw CheckpointError(path: path, reason: .file(error.reasonDescription))
        }
    }

    /// Reads a state file and checks every moment's name and shape against `model`'s parameters.
    public init(contentsOf path: String, for model: CaptioningModel) throws(CheckpointError) {
        func fail(_ reason: CheckpointError.Reason) -> CheckpointError { CheckpointError(path: path, reason: reason) }
        let file: SafeTensorsFile
        do {
            file = try SafeTensorsFile(contentsOf: path)
        } catch {
            throw fail(.file(error.reasonDescription))
        }
        guard let format = file.metadata["format"] else { throw fail(.missingMetadata(key: "format")) }
        guard format == TrainingState.format else { throw fail(.unsupportedFormat(found: format)) }
        guard let version = file.metadata["format_version"] else { throw fail(.missingMetadata(key: "format_version")) }
        guard Int(version) == TrainingState.formatVersion else {
            throw fail(.unsupportedFormatVersion(found: version, supported: TrainingState.formatVersion))
        }
        guard let json = file.metadata["state"] else { throw fail(.missingMetadata(key: "state")) }
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(json.utf8))
        } catch {
            throw fail(.badMetadata(key: "state", problem: Checkpoint.describe(error)))
        }
        guard header.generatorState.count == 4, header.generatorState.contains(where: { $0 != 0 }) else {
            throw fail(.badMetadata(key: "state", problem: "the generator state must be 4 words, not all zero"))
        }
        var optimizer = Adam(learningRate: header.learningRate, beta1: header.beta1, beta2: header.beta2,
                             epsilon: header.epsilon, weightDecay: header.weightDecay)
        optimizer.stepCount = header.stepCount
        var known = Set<String>()
        for path in model.parameterPaths {
            let shape = model[keyPath: path.parameter].shape
            for (prefix, isFirst) in [(TrainingState.firstMomentPrefix, true), (TrainingState.secondMomentPrefix, false)] {
                let name = prefix + path.name
                known.insert(name)
                guard let entry = file.entry(named: name) else {
                    if header.stepCount == 0 { continue }
                    throw fail(.missingTensor(name))
                }
                guard entry.shape == shape else { throw fail(.wrongShape(tensor: name, expected: shape, found: entry.shape)) }
                let values: ShapedArray<Float>
                do {
                    values = try file.floats(named: name)
                } catch {
                    throw fail(.wrongDType(tensor: name, found: entry.dtype.rawValue))
                }
                let moment = Tensor(shape: shape, scalars: values.values)
                if isFirst { optimizer.firstMoments[path.name] = moment } else { optimizer.secondMoments[path.name] = moment }
            }
        }
        if let unexpected = file.names.first(where: { !known.contains($0) }) { throw fail(.unexpectedTensor(unexpected)) }
        self.init(optimizer: optimizer, generator: SeededGenerator(state: header.generatorState),
                  dataPosition: header.dataPosition)
    }
}

extension Trainer {
    /// The state to save beside a checkpoint of `model`, with the caller's generator and data position.
    public func trainingState(generator: SeededGenerator, dataPosition: DataPosition) -> TrainingState {
        TrainingState(optimizer: optimizer, generator: generator, dataPosition: dataPosition)
    }
}
