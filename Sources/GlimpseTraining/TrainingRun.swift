import Foundation
import GlimpseCaptioning
import GlimpseData
import GlimpseDistributed
import GlimpseImage
import GlimpseLayers
import GlimpseMetrics
import GlimpseModel
import GlimpseSafeTensors
import GlimpseSynth
import GlimpseTensor
import GlimpseSupport
import GlimpseText

/// What a run reports while it works, for the caller to print. Called on the training thread.
public enum TrainingEvent: Sendable {
    /// The dataset inspection (the same checks as `glimpse inspect`) passed.
    case inspected(DatasetInspection)
    /// A fresh run's vocabulary, built from the training captions as `glimpse inspect` reports it.
    case vocabularyDecided(VocabularyDecision)
    /// The vocabulary of the model the run continues (`from`: the `--init` model, or the run's
    /// own checkpoint when resuming), not built from the captions.
    case vocabularyKept(size: Int, from: String)
    /// Resuming from the checkpoint set in `from` (a folder).
    case resumed(DataPosition, step: Int, from: String)
    /// A checkpoint set that could not be used (a save killed part way, a damaged file);
    /// the run resumes from an older complete one.
    case skippedCheckpointSet(folder: String, reason: String)
    /// The cache the run reads its inputs from: decoded images, or (`features`) a pretrained
    /// encoder's features; sent before it is filled.
    case cacheOpened(features: Bool, directory: String)
    /// Decoding images into the cache: `done` of `total` images still to decode.
    case caching(done: Int, total: Int)
    /// Computing a pretrained encoder's features into the feature cache: `done` of `total` images.
    case encoding(done: Int, total: Int)
    /// The cache is filled; unreadable images are listed here and left out of training.
    case cached(decoded: Int, reused: Int, failures: [ImageCache.Failure])
    /// An epoch (counted from 1) starts, or resumes at `firstStep` of its `horizon.stepsPerEpoch`.
    case epochStarted(epoch: Int, firstStep: Int, horizon: TrainingHorizon)
    /// One optimizer step; `batch` counts within the epoch from 1.
    case step(LogRecord, batch: Int, steps: Int)
    case validated(LogRecord)
    case learningRateDecayed(to: Double)
    /// `best` was saved without a feature summary (so `caption` will not flag images unlike the
    /// training images), for this reason.
    case featureSummaryFailed(FeatureSummary.Failure)
}

/// How far a run goes, for a progress display to tell how much is left of it.
public struct TrainingHorizon: Sendable, Equatable {
    /// Epochs of the whole run; nil: until the time budget (or early stopping) ends it.
    public var epochs: Int?
    /// Optimizer steps in one epoch (batches, the same every epoch).
    public var stepsPerEpoch: Int
    /// This invocation's time budget, in seconds from `started`; nil: none.
    public var timeBudget: TimeInterval?
    /// Stop once the optimizer has taken this many steps in total; nil: no such limit.
    public var maximumSteps: Int?
    /// When this invocation began (cache filling included): the time budget's clock.
    public var started: Date

    public init(epochs: Int?, stepsPerEpoch: Int, timeBudget: TimeInterval? = nil, maximumSteps: Int? = nil,
                started: Date = Date()) {
        self.epochs = epochs
        self.stepsPerEpoch = stepsPerEpoch
        self.timeBudget = timeBudget
        self.maximumSteps = maximumSteps
        self.started = started
    }
}

/// How a run ended (errors are thrown instead).
public enum TrainingOutcome: Sendable, Equatable {
    /// All epochs done.
    case completed(epochs: Int)
    /// No better validation score (`metric`) for `patience` epochs, after `epoch`.
    case stoppedEarly(epoch: Int, patience: Int, metric: SelectionMetric)
    /// The caller's stop flag (Ctrl-C, SIGTERM): `last` and its state hold the exact position.
    case interrupted(step: Int)
    /// The time budget ran out; saved as for an interruption.
    case timeBudgetReached(step: Int)
    /// `maximumSteps` reached; saved as for an interruption.
    case stepLimitReached(step: Int)
    /// A loss or gradient was NaN or infinite at `step`; nothing was saved after it, so
    /// `last` (if any) is the last good checkpoint.
    case nonFiniteLoss(step: Int, epoch: Int, loss: Float, gradientNorm: Float)
    /// A resumed run that had already finished.
    case alreadyFinished

    /// The outcome in words, as the stop records of `log.jsonl` give it.
    public var reason: String {
        switch self {
        case .completed: "epochs done"
        case .stoppedEarly(_, let patience, let metric):
            "early stopping: no improvement in \(metric.name) for \(patience) epoch\(patience == 1 ? "" : "s")"
        case .interrupted: "interrupted"
        case .timeBudgetReached: "time budget"
        case .stepLimitReached: "step limit"
        case .nonFiniteLoss(_, _, let loss, let gradientNorm): "non-finite loss \(loss) or gradient norm \(gradientNorm)"
        case .alreadyFinished: "already finished"
        }
    }
}

/// Hooks for tests: called after each optimizer step with the trainer and the step count.
struct TrainingHooks {
    var afterStep: ((inout Trainer, Int) -> Void)?
    /// Stands in for the file system's free space (a full disk, without filling one).
    var freeBytes: ((String) -> Int?)?
}

/// `glimpse train` as a library: inspects the dataset, builds the vocabulary, fills the
/// image cache, trains with validation each epoch and writes the run folder:
///
/// ```
/// RUN_DIR/config.json          options, model configuration, what was derived from the data
/// RUN_DIR/vocab.txt            the vocabulary, one token per line
/// RUN_DIR/log.jsonl            one line per step and per validation
/// RUN_DIR/best.safetensors     best validation CIDEr-D (or exact-match share: `selectBy`)
/// RUN_DIR/last                 link to the latest checkpoint set (`CheckpointSet`), written whole
///                              at each epoch end, stop and `saveEvery` steps: checkpoints/step-N.x/{model.safetensors,
///                              state.safetensors (Adam, generator, data position), progress.json
///                              (best score, plateau counters), set.json}
/// RUN_DIR/last.safetensors     link to last/model.safetensors
/// RUN_DIR/cache/               decoded images (unless a cache folder is given)
/// ```
public struct TrainingRun {
    public var dataset: Dataset
    public var layout: RunLayout
    public var options: TrainingOptions
    /// Continue from `last` instead of starting; the options saved in config.json are
    /// used, except the stopping conditions (epochs, minutes, steps), threads and the save interval.
    public var resume: Bool
    var hooks = TrainingHooks()
    /// Called before each write of a checkpoint set (`CheckpointSet.Stage`): for reliability
    /// tests that kill the process part way through a save.
    public var savePause: ((CheckpointSet.Stage) -> Void)?

    public init(dataset: Dataset, runDirectory: String, options: TrainingOptions, resume: Bool = false) {
        self.dataset = dataset
        layout = RunLayout(directory: runDirectory)
        self.options = options
        self.resume = resume
    }

    /// The processes this run is one of: `.single`, or one rank of `mpirun -np N glimpse train`.
    /// Rank 0 writes the run folder and validates; every rank trains on its share of each batch.
    public var processGroup: ProcessGroup = .single

    /// Runs until done or stopped. `shouldStop` is polled between steps (and between
    /// cache chunks); when it returns true the run saves `last` and its state and
    /// returns `.interrupted`. In a data-parallel run, every rank calls this; the ranks agree on
    /// every stop, and an error on one is said there while the others stop (`peerFailed`).
    public func run(shouldStop: @escaping () -> Bool = { false },
                    events: @escaping (TrainingEvent) -> Void = { _ in }) throws(TrainingError) -> TrainingOutcome {
        let started = Date()
        let group = processGroup
        // Checks every rank makes alike: agreed, so that an error is said once.
        let groundTruth = try agreed("checking the options and the dataset") { () throws(TrainingError) in
            if let problem = options.problem() { throw .invalidOptions(problem) }
            // With ground truth (a glimpse synth dataset), validation reports the content scores.
            let groundTruth: [String: GroundTruth]?
            do throws(GroundTruthError) {
                groundTruth = try GroundTruthFile.load(captionSource: dataset.captionSource, root: dataset.root)
            } catch {
                throw .groundTruth(error)
            }
            if !resume { try Self.checkSelection(options, dataset: dataset, groundTruth: groundTruth) }
            return groundTruth
        }
        // Rank 0 prepares the run folder, the start and the cache while the others wait; then they
        // follow, reading what it wrote (the cache they find filled).
        let leader = try phase("preparing the run folder and the cache", runsHere: group.isLeader) { () throws(TrainingError) in
            try prepare(writing: true, groundTruth: groundTruth, shouldStop: shouldStop, events: events)
        }
        if let leader, case .ended(let outcome) = leader { return outcome }
        let follower = try phase("reading the run's start", runsHere: !group.isLeader) { () throws(TrainingError) in
            try prepare(writing: false, groundTruth: groundTruth, shouldStop: { false }, events: { _ in })
        }
        guard case .ready(let log, let start, let data) = (leader ?? follower)! else { return .interrupted(step: 0) }
        if group.isDistributed {
            let same: Bool
            do {
                same = try group.sameOnEveryRank(Self.digest(start.trainer, position: start.position, examples: data.examples.count),
                                                 what: "comparing the ranks' starting models")
            } catch { throw .distributed(error) }
            if !same {
                throw .distributed(.ranksDiffer(what: "starting models or data",
                                                advice: "every rank must see the same dataset, run folder and cache "
                                                    + "(on a file system all the nodes share)"))
            }
        }
        let session = TrainingSession(run: self, start: start, data: data, log: log, groundTruth: groundTruth,
                                      started: started, shouldStop: shouldStop, events: events)
        return try session.train()
    }

    /// What `prepare` made: everything training needs (`log` on the rank that writes), or an end
    /// before the first step (stopped while caching, a finished run).
    enum Preparation {
        case ready(LogWriter?, Start, TrainingData)
        case ended(TrainingOutcome)
    }

    /// The run folder (when `writing`: created, locked, its start written), the start and the
    /// filled cache.
    private func prepare(writing: Bool, groundTruth: [String: GroundTruth]?, shouldStop: () -> Bool,
                         events: @escaping (TrainingEvent) -> Void) throws(TrainingError) -> Preparation {
        var log: LogWriter?
        if writing {
            do {
                try FileManager.default.createDirectory(atPath: layout.directory, withIntermediateDirectories: true)
            } catch {
                throw .file(path: layout.directory, reason: (error as NSError).localizedDescription)
            }
            // Opened and locked first: one process per run folder, for the whole run.
            log = try LogWriter(path: layout.log)
            try CheckpointSet.checkLinks(in: layout)
        }
        var start = resume ? try resumedStart(groundTruth: groundTruth, writing: writing, events: events)
            : try freshStart(writing: writing, events: events)
        if processGroup.isDistributed, let problem = Self.distributedProblem(start.options, ranks: processGroup.size) {
            throw .invalidOptions(problem)
        }
        if start.options.selfCritical == true && start.trainer.model.encoderTail != nil {
            throw .invalidOptions("self-critical training keeps the encoder frozen, and this model's last stages train: "
                                  + "start it from a model whose encoder is frozen")
        }
        if start.options.encoderLearningRate != nil && start.trainer.model.encoderTail == nil {
            throw .invalidOptions("the model has no encoder stages that train, so an encoder learning rate has nothing to set")
        }
        start.trainer.optimizer.learningRateScales = start.options.learningRateScales(for: start.trainer.model)
        if resume {
            if start.progress.finished { return .ended(.alreadyFinished) }
            events(.resumed(start.position, step: start.trainer.stepCount, from: start.resumedFrom))
        }
        if resume || start.options.initialModel != nil {
            events(.vocabularyKept(size: start.vocabulary.count, from: resume ? start.resumedFrom : start.options.initialModel ?? ""))
        } else {
            events(.vocabularyDecided(start.inspection.vocabulary))
        }
        guard let data = try fillCache(start, shouldStop: shouldStop, events: events) else {
            // Nothing is saved yet: a fresh run stopped here simply starts again.
            return .ended(.interrupted(step: start.trainer.stepCount))
        }
        if !resume {
            start.configuration.trainingImages = data.examples.count
            start.configuration.validationImages = data.validationImages.count
        }
        if writing { try JSONFile.write(start.configuration, to: layout.configuration) }
        // On a pretrained encoder a step is mostly the decoder, whose products are the LSTM's and the
        // attention's, one after another: OpenBLAS's own threads share each of them out, where the
        // convolutions (of the stages that train, or the frozen ones under --augment) are spread over
        // Swift workers, each on one OpenBLAS thread (`Conv2d`). ResNet-50 features on the Flickr8k
        // stand-in, 2 cores: 26.3 → 34.7 images/s (median step). With layer4 training too
        // (glimpse-benchmarks, single runs): ResNet-50 11.3 on one OpenBLAS thread, 12.3 and 12.5
        // on two; ResNet-18 27.0 on one, 26.5 and 32.6 on two: no worse, within this VM's noise.
        if start.trainer.model.pretrainedEncoder != nil { BLAS.threadCount = start.options.threads }
        return .ready(log, start, data)
    }

    /// Runs `work` on this rank when `runsHere` (the others wait), then every rank learns whether
    /// it went well everywhere: this rank's error is thrown here, and a rank whose work went well
    /// stops with `peerFailed` when another's did not. nil on the ranks that did not run it.
    private func phase(_ name: String, runsHere: Bool,
                       _ work: () throws(TrainingError) -> Preparation) throws(TrainingError) -> Preparation? {
        var result: Result<Preparation?, TrainingError> = .success(nil)
        if runsHere {
            do throws(TrainingError) { result = .success(try work()) } catch { result = .failure(error) }
        }
        guard processGroup.isDistributed else { return try result.get() }
        // Votes, summed over the ranks: [failed, stopped while caching, the run had already finished].
        var votes: [Double] = [0, 0, 0]
        switch result {
        case .failure: votes[0] = 1
        case .success(.ended(.alreadyFinished)?): votes[2] = 1
        case .success(.ended?): votes[1] = 1
        default: break
        }
        do { try processGroup.sum(&votes, what: name) } catch { throw .distributed(error) }
        if case .failure(let error) = result { throw .allRanksStopping(error, everyRank: votes[0] == Double(processGroup.size)) }
        let mine = try result.get()
        if votes[0] > 0 { throw .distributed(.peerFailed(phase: name)) }
        if mine == nil, votes[1] > 0 { return .ended(.interrupted(step: 0)) }
        if mine == nil, votes[2] > 0 { return .ended(.alreadyFinished) }
        return mine
    }

    /// `work` on every rank, then every rank learns whether it went well everywhere: this rank's
    /// error is thrown here (marked as known to all), and a rank whose work went well stops with
    /// `peerFailed` when another's did not.
    private func agreed<T>(_ name: String, _ work: () throws(TrainingError) -> T) throws(TrainingError) -> T {
        let result: Result<T, TrainingError>
        do throws(TrainingError) { result = .success(try work()) } catch { result = .failure(error) }
        guard processGroup.isDistributed else { return try result.get() }
        var failures: [Double] = [(try? result.get()) == nil ? 1 : 0]
        do { try processGroup.sum(&failures, what: name) } catch { throw .distributed(error) }
        if case .failure(let error) = result { throw .allRanksStopping(error, everyRank: failures[0] == Double(processGroup.size)) }
        if failures[0] > 0 { throw .distributed(.peerFailed(phase: name)) }
        return try result.get()
    }

    /// What a data-parallel run of `ranks` ranks cannot do with `options` (the run's own, when resuming).
    static func distributedProblem(_ options: TrainingOptions, ranks: Int) -> String? {
        if options.selfCritical == true {
            return "self-critical training runs in one process only: start it (or --resume it) without mpirun"
        }
        if options.imagesPerBatch < ranks {
            return "images per batch (\(options.imagesPerBatch)) must be at least the number of ranks (\(ranks)): "
                + "every rank takes at least one image of every batch"
        }
        return nil
    }

    /// A digest of what every rank must start from alike: the weights, running statistics and
    /// optimizer step, the data position and the number of training examples.
    static func digest(_ trainer: Trainer, position: DataPosition, examples: Int) -> UInt64 {
        var hash = SplitMix64.mix(UInt64(trainer.stepCount) ^ UInt64(examples) << 32)
        hash = SplitMix64.mix(hash ^ UInt64(position.epoch) ^ UInt64(position.batchIndex) << 32 ^ position.shuffleSeed)
        let model = trainer.model
        for tensor in model.parameterPaths.map({ model[keyPath: $0.parameter] }) + model.bufferPaths.map({ model[keyPath: $0.buffer] }) {
            tensor.withUnsafeBufferPointer { values in
                for value in values { hash = SplitMix64.mix(hash ^ UInt64(value.bitPattern)) }
            }
        }
        return hash
    }

    /// Where training starts: the options in force, the vocabulary, the model and optimizer,
    /// the random stream, the data position and the loop's bookkeeping.
    struct Start {
        var options: TrainingOptions
        var configuration: RunConfiguration
        var vocabulary: Vocabulary
        var trainer: Trainer
        var generator: SeededGenerator
        var position: DataPosition
        var progress: RunProgress
        var inspection: DatasetInspection
        /// The model's input: the checkpoint's when resuming or starting from one.
        var preprocessing: Preprocessing
        /// The checkpoint set resumed from (empty for a fresh run).
        var resumedFrom = ""
    }

    /// The decoded images (or their features) training and validation use.
    struct TrainingData {
        var inputs: TrainingInputs
        var examples: [TrainingExample]
        var validationImages: [DatasetImage]
    }

    /// The run folder's checkpoint set, checked, with the options saved in config.json (only the
    /// stopping conditions and threads come from this invocation).
    private func resumedStart(groundTruth: [String: GroundTruth]?, writing: Bool,
                              events: (TrainingEvent) -> Void) throws(TrainingError) -> Start {
        var configuration = try JSONFile.read(RunConfiguration.self, from: layout.configuration)
        let saved = configuration.options
        var options = saved
        // The stopping conditions and threads belong to this invocation; without
        // epochs or minutes, the saved epoch count stands (and without a save interval, the saved one).
        options.epochs = self.options.epochs ?? (self.options.minutes == nil ? saved.epochs : nil)
        options.minutes = self.options.minutes
        options.maximumSteps = self.options.maximumSteps
        options.threads = self.options.threads
        options.saveEvery = self.options.saveEvery ?? saved.saveEvery
        options.synchronizedBatchNorm = self.options.synchronizedBatchNorm
        configuration.options = options
        try Self.checkSelection(options, dataset: dataset, groundTruth: groundTruth)
        Parallel.use(cores: options.threads)
        // The vocabulary is the checkpoint's; the inspection reports it at the count it was built with.
        var rule = options.vocabularyRule
        rule.minimumCount = configuration.minimumWordCount
        rule.lowersMinimumCount = false
        let inspection = try Self.inspect(dataset, vocabularyRule: rule, threads: options.threads)
        events(.inspected(inspection))
        let loaded = try CheckpointSet.load(from: layout)
        // What a killed save left (newer partial sets, temporary files) goes; so do the
        // log's records past the set.
        if writing {
            try CheckpointSet.adopt(loaded.folder, in: layout)
            try LogWriter.cut(layout.log, afterStep: loaded.state.optimizer.stepCount)
        }
        for skipped in loaded.skipped { events(.skippedCheckpointSet(folder: skipped.folder, reason: skipped.reason)) }
        let trainer = Trainer(model: loaded.checkpoint.model, optimizer: loaded.state.optimizer,
                              maxGradientNorm: options.gradientClip, scheduledSampling: options.scheduledSampling)
        return Start(options: options, configuration: configuration, vocabulary: loaded.checkpoint.vocabulary, trainer: trainer,
                     generator: loaded.state.generator, position: loaded.state.dataPosition, progress: loaded.progress,
                     inspection: inspection, preprocessing: loaded.checkpoint.preprocessing, resumedFrom: loaded.folder)
    }

    /// A new model (or the `--init` model) and optimizer, the vocabulary built from the
    /// training captions and written to the run folder.
    private func freshStart(writing: Bool, events: (TrainingEvent) -> Void) throws(TrainingError) -> Start {
        var options = self.options
        let vocabulary: Vocabulary
        let trainer: Trainer
        if writing {
            if CheckpointSet.anySaved(in: layout) { throw .runExists(directory: layout.directory) }
            // A run killed before its first complete save left only its log, partial folders
            // and temporary files.
            CheckpointSet.clearIncomplete(in: layout)
            try LogWriter.cut(layout.log, afterStep: 0)
        }
        Parallel.use(cores: options.threads)
        let inspection = try Self.inspect(dataset, vocabularyRule: options.vocabularyRule, threads: options.threads)
        let decision = inspection.vocabulary
        events(.inspected(inspection))
        let model: ModelConfiguration
        var preprocessing = options.preprocessing
        if let initialPath = options.initialModel {
            // Fine-tuning: the checkpoint's weights, vocabulary and input size; a fresh optimizer.
            let start: Checkpoint
            do { start = try Checkpoint(contentsOf: initialPath) } catch { throw .checkpoint(error) }
            vocabulary = start.vocabulary
            let startModel = try Self.fineTuning(start.model, fromStage: options.fineTuneFromStage, path: initialPath)
            model = startModel.configuration
            options.imageSize = model.imageSize
            preprocessing = start.preprocessing
            trainer = Trainer(model: startModel, optimizer: Adam(learningRate: options.learningRate),
                              maxGradientNorm: options.gradientClip, scheduledSampling: options.scheduledSampling)
        } else {
            // At most `TrainingOptions.Limits.vocabularySize` tokens: `decision.cappedWords` tells how many were left out.
            vocabulary = decision.vocabulary
            let pretrained = try options.encoder.map { path throws(TrainingError) in try Self.readEncoder(path, options: options) }
            do {
                let stage = options.fineTuneFromStage
                model = try options.modelConfiguration(vocabularySize: vocabulary.count, pretrained: pretrained.map {
                    .init(architecture: $0.architecture, gridSize: $0.gridSize, digest: ResNetWeights.digest($0, frozenBefore: stage),
                          trainableFromStage: stage)
                })
            } catch { throw .model(error) }
            var initGenerator = SeededGenerator(seed: options.seed)
            trainer = Trainer(model: CaptioningModel(configuration: model, pretrainedEncoder: pretrained, using: &initGenerator),
                              optimizer: Adam(learningRate: options.learningRate),
                              maxGradientNorm: options.gradientClip, scheduledSampling: options.scheduledSampling)
        }
        let configuration = RunConfiguration(options: options, model: model, dataset: dataset.root,
                                         datasetFormat: dataset.format, minimumWordCount: decision.minimumCount,
                                         trainingImages: dataset.images(in: .train).count,
                                         validationImages: dataset.images(in: .validation).count)
        do {
            if writing { try FileBytes.writeAtomically(Array(vocabulary.fileContents.utf8), to: layout.vocabulary) }
        } catch {
            throw .write(error)
        }
        // Training draws (dropout, sampling) from a stream separate from initialisation.
        return Start(options: options, configuration: configuration, vocabulary: vocabulary, trainer: trainer,
                     generator: SeededGenerator(seed: options.seed &+ 0x5EED),
                     position: DataPosition(epoch: 0, batchIndex: 0, shuffleSeed: options.seed), progress: RunProgress(),
                     inspection: inspection, preprocessing: preprocessing)
    }

    /// The `--init` model with its pretrained encoder's stages from `stage` on training (nil: as it
    /// is): the second half of the usual recipe, a decoder trained on the frozen encoder first.
    static func fineTuning(_ model: CaptioningModel, fromStage stage: Int?, path: String) throws(TrainingError) -> CaptioningModel {
        guard let stage, stage != model.configuration.pretrainedEncoder?.trainableFromStage else { return model }
        guard let encoder = model.pretrainedEncoder, let pretrained = model.configuration.pretrainedEncoder else {
            throw .invalidOptions("\(path) has no pretrained encoder whose stages could train (it was trained with the small CNN)")
        }
        // The stages trained so far are the model's own: its encoder as it is now, with them.
        var convolutions = encoder.convolutions
        if let tail = model.encoderTail {
            let first = encoder.architecture.convolutionCount(before: tail.firstStage)
            convolutions.replaceSubrange(first..., with: tail.convolutions)
        }
        let current = ResNetEncoder(architecture: encoder.architecture, gridSize: encoder.gridSize, convolutions: convolutions)
        let configuration = model.configuration
        do {
            let fineTuned = try ModelConfiguration(
                vocabularySize: configuration.vocabularySize, imageSize: configuration.imageSize, stageChannels: [],
                embeddingSize: configuration.embeddingSize, attentionSize: configuration.attentionSize,
                hiddenSize: configuration.hiddenSize, dropout: configuration.dropout,
                attentionRegularization: configuration.attentionRegularization, positionFeatures: configuration.positionFeatures,
                wordLossWeight: configuration.wordLossWeight,
                pretrainedEncoder: .init(architecture: pretrained.architecture, gridSize: pretrained.gridSize,
                                         digest: ResNetWeights.digest(current, frozenBefore: stage), trainableFromStage: stage))
            return CaptioningModel(configuration: fineTuned, encoder: model.encoder, decoder: model.decoder,
                                   wordDetector: model.wordDetector, pretrainedEncoder: current)
        } catch {
            throw .model(error)
        }
    }

    /// The pretrained encoder of `--encoder` (an encoder file, or a torchvision state dict given by mistake: said so).
    static func readEncoder(_ path: String, options: TrainingOptions) throws(TrainingError) -> ResNetEncoder {
        do {
            let file = try SafeTensorsFile(contentsOf: path)
            if file.metadata["format"] == nil, (try? ResNetWeights.architecture(of: file)) != nil {
                throw CheckpointError(path: path, reason: .unsupportedFormat(
                    found: "a torchvision state dict; turn it into an encoder file with glimpse import-encoder first"))
            }
            return try ResNetWeights.read(file, gridSize: options.gridSize ?? 7)
        } catch let error as CheckpointError {
            throw .checkpoint(error)
        } catch {
            throw .checkpoint(CheckpointError(path: path, reason: .file("\(error)")))
        }
    }

    /// Every training and validation image decoded once into the cache (or, with a pretrained
    /// encoder, encoded once into the feature cache), checked against the disk's free space
    /// first, in chunks so that a stop request is honoured; nil when stopped.
    private func fillCache(_ start: Start, shouldStop: () -> Bool,
                           events: @escaping (TrainingEvent) -> Void) throws(TrainingError) -> TrainingData? {
        let options = start.options, inspection = start.inspection, vocabulary = start.vocabulary
        let inputs: TrainingInputs
        do {
            let directory = options.cacheDirectory ?? layout.defaultCache
            let model = start.trainer.model
            if options.augments {
                inputs = .augmentedPixels(try ImageCache(directory: directory, preprocessing: options.augmentationSource),
                                          Augmentation(preprocessing: start.preprocessing, seed: options.seed))
            } else {
                inputs = model.pretrainedEncoder == nil
                    ? .pixels(try ImageCache(directory: directory, preprocessing: start.preprocessing))
                    : .features(try FeatureCache(directory: directory, model: model, preprocessing: start.preprocessing))
            }
        } catch {
            throw .cache(error)
        }
        events(.cacheOpened(features: inputs.holdsFeatures, directory: inputs.directory))
        let unusable = Set(inspection.unusableImages.map(\.path))
        let trainImages = dataset.images(in: .train).filter { !unusable.contains($0.path) }
        var validationImages = dataset.images(in: .validation).filter { !unusable.contains($0.path) && !$0.captions.isEmpty }
        if let limit = options.validationImages { validationImages = Array(validationImages.prefix(limit)) }
        let toCache = trainImages.map(\.path) + validationImages.map(\.path)
        guard let failures = try fill(inputs, with: toCache, threads: options.threads, shouldStop: shouldStop, events: events) else {
            return nil
        }
        let examples = TrainingExample.make(trainImages.filter { inputs.holds($0.path) },
                                            vocabulary: vocabulary, maximumLength: options.maximumCaptionLength)
        if examples.isEmpty {
            var report = inspection.lines()
            report.append("images that could not be decoded: \(failures.count)")
            report += failures.prefix(20).map { "  \($0)" }
            throw .noUsableTrainingImages(root: dataset.root, report: report)
        }
        validationImages = validationImages.filter { inputs.holds($0.path) }
        return TrainingData(inputs: inputs, examples: examples, validationImages: validationImages)
    }

    /// Fills `inputs` with `paths` in chunks, so that a stop request is honoured while it fills
    /// (nil when stopped), after checking that what is missing fits on the disk; returns the
    /// files that could not be read.
    private func fill(_ inputs: TrainingInputs, with paths: [String], threads: Int, shouldStop: () -> Bool,
                      events: @escaping (TrainingEvent) -> Void) throws(TrainingError) -> [ImageCache.Failure]? {
        var decodedCount = 0, reusedCount = 0, failures: [ImageCache.Failure] = []
        let chunk = 256
        let pending = paths.filter { !inputs.contains($0) }.count
        var decodedSoFar = 0
        // Checked before the first byte: a cache that cannot fit would fill the disk and fail.
        let needed = pending * inputs.bytesPerImage
        if pending > 0, let available = (hooks.freeBytes ?? Self.freeBytes(at:))(inputs.directory), needed > available {
            throw .cacheTooLarge(directory: inputs.directory, needed: needed, available: available)
        }
        let progress: (Int) -> TrainingEvent = { done in
            inputs.holdsFeatures ? .encoding(done: done, total: pending) : .caching(done: done, total: pending)
        }
        // Announced before the first chunk, so that the caller's rate starts with the work.
        if pending > 0 { events(progress(0)) }
        for start in stride(from: 0, to: paths.count, by: chunk) {
            if shouldStop() { return nil }
            let part = Array(paths[start..<min(paths.count, start + chunk)])
            let partPending = part.filter { !inputs.contains($0) }.count
            let report: ImageCache.FillReport
            do {
                report = try inputs.fill(part, threads: threads) { done, _ in events(progress(decodedSoFar + done)) }
            } catch {
                throw .cache(error)
            }
            decodedSoFar += partPending
            decodedCount += report.decoded
            reusedCount += report.reused
            failures += report.failures
        }
        events(.cached(decoded: decodedCount, reused: reusedCount, failures: failures))
        return failures
    }

    // MARK: - Steps of the run

    /// Bytes an unprivileged writer may still use on the file system holding `path`.
    static func freeBytes(at path: String) -> Int? {
        var status = statvfs()
        guard statvfs(path, &status) == 0 else { return nil }
        return Int(status.f_bavail) * Int(status.f_frsize)
    }

    /// The same checks as `glimpse inspect`; stops with its report when nothing is usable.
    static func inspect(_ dataset: Dataset, vocabularyRule: VocabularyRule, threads: Int) throws(TrainingError) -> DatasetInspection {
        let inspection = DatasetInspection.inspect(dataset, vocabularyRule: vocabularyRule, checkImages: true, threads: threads)
        if inspection.usableTrainingImages == 0 {
            throw .noUsableTrainingImages(root: dataset.root, report: inspection.lines())
        }
        return inspection
    }

    /// Whether a validation score beats the best so far (the first always does). Equal
    /// scores (within 1e-9) are decided by the tiebreak when both have one.
    static func improves(_ score: Double, tiebreak: Double?, on best: Double?, tiebreak bestTiebreak: Double?) -> Bool {
        guard let best else { return true }
        if score > best + 1e-9 { return true }
        guard score >= best - 1e-9, let tiebreak, let bestTiebreak else { return false }
        return tiebreak > bestTiebreak + 1e-9
    }

    /// Selecting by content needs ground truth for at least one validation image.
    static func checkSelection(_ options: TrainingOptions, dataset: Dataset,
                               groundTruth: [String: GroundTruth]?) throws(TrainingError) {
        guard options.selectionMetric == .content else { return }
        let validation = dataset.images(in: .validation)
        guard let groundTruth, validation.contains(where: { groundTruth[$0.id] != nil }) else {
            throw .invalidOptions("selecting by content needs ground truth for the validation images "
                                  + "(\(GroundTruthFile.fileName) beside the captions, as glimpse synth writes it); "
                                  + "\(dataset.root) has " + (groundTruth == nil ? "none" : "none for its \(validation.count) validation images"))
        }
    }

    /// Training images a saved model's feature summary is measured on, at most (evenly spread
    /// over the training set): four times the default model's D = 258, and, since every new best
    /// is measured again, bounded for a model whose ResNet stages train (its features are those
    /// stages' output, about 30 s for 1 500 images through ResNet-50's layer4 on 2 cores).
    static let featureSummaryImages = 1000
    /// Held-out images that set its threshold, at most; with fewer than `fewestHeldOut` validation
    /// images, every fifth of the training sample is held out instead.
    static let featureSummaryHeldOut = 500
    static let fewestHeldOut = 20

    /// The feature summary (`FeatureSummary`) a saved model carries, so that `caption` can flag
    /// images unlike its training images: the mean and covariance of `model`'s features over the
    /// training images, the threshold set on the validation images.
    static func featureSummary(_ model: CaptioningModel, inputs: TrainingInputs, training: [String],
                               validation: [String], batchSize: Int) throws(FeatureSummary.Failure) -> FeatureSummary {
        func spread(_ paths: [String], _ count: Int) -> [String] {
            paths.count <= count ? paths : (0..<count).map { paths[$0 * paths.count / count] }
        }
        var measured = spread(training, featureSummaryImages)
        var heldOut = spread(validation, featureSummaryHeldOut)
        if heldOut.count < fewestHeldOut { (measured, heldOut) = FeatureSummary.holdingOutEveryFifth(measured) }
        // The model's own features of the cache's inputs (centre crops under --augment), a batch at a time.
        func features(_ paths: [String]) -> some Sequence<Tensor> {
            stride(from: 0, to: paths.count, by: max(1, batchSize)).lazy.map { start in
                let batch = inputs.batch(Array(paths[start..<min(paths.count, start + max(1, batchSize))]), captions: [])
                return batch.isEncoded ? model.features(ofCached: batch.images) : model.features(of: batch.images)
            }
        }
        var accumulator = FeatureSummary.Accumulator(featureSize: model.configuration.featureSize)
        for batch in features(measured) { accumulator.add(batch) }
        return try FeatureSummary.calibrated(accumulator, heldOut: features(heldOut))
    }

    /// Greedy captions (no teacher forcing) for `images` (image id → caption), and their
    /// scores against the raw reference captions (nil if the evaluator refuses the set).
    static func validate(_ model: CaptioningModel, images: [DatasetImage], inputs: TrainingInputs, vocabulary: Vocabulary,
                         batchSize: Int) -> (captions: [String: String], scores: CaptionScores?) {
        // The captioning pipeline's own search, on the cache's pixels (or features) instead of files.
        let captioner = Captioner(checkpoint: Checkpoint(model: model, vocabulary: vocabulary, preprocessing: inputs.preprocessing))
        let options = DecodingOptions(beamSize: 1, maximumLength: 30)
        var candidates: [String: String] = [:], references: [String: [String]] = [:]
        for start in stride(from: 0, to: images.count, by: batchSize) {
            let group = Array(images[start..<min(images.count, start + batchSize)])
            let batch = inputs.batch(group.map(\.path), captions: [])
            let results = batch.isEncoded ? captioner.caption(features: model.features(ofCached: batch.images), options: options)
                : captioner.caption(images: batch.images, options: options)
            for (image, result) in zip(group, results) {
                candidates[image.id] = captioner.text(result.best)
                references[image.id] = image.captions
            }
        }
        return (candidates, try? CaptionEvaluator.evaluate(references: references, candidates: candidates))
    }
}
