import Foundation
import GlimpseCaptioning
import GlimpseData
import GlimpseImage
import GlimpseLayers
import GlimpseMetrics
import GlimpseModel
import GlimpseSynth
import GlimpseTensor

/// What a run reports while it works, for the caller to print. Called on the training thread.
public enum TrainingEvent: Sendable {
    /// The dataset inspection (the same checks as `glimpse inspect`) passed.
    case inspected(DatasetInspection)
    case vocabulary(size: Int, minimumWordCount: Int)
    /// More words qualified than `TrainingOptions.Limits.vocabularySize` allows: the `dropped`
    /// least frequent become `<unk>`.
    case vocabularyCapped(kept: Int, dropped: Int)
    /// Resuming from the checkpoint set in `from` (a folder).
    case resumed(DataPosition, step: Int, from: String)
    /// A checkpoint set that could not be used (a save killed part way, a damaged file);
    /// the run resumes from an older complete one.
    case skippedCheckpointSet(folder: String, reason: String)
    /// Decoding images into the cache: `done` of `total` images still to decode.
    case caching(done: Int, total: Int)
    /// The cache is filled; unreadable images are listed here and left out of training.
    case cached(decoded: Int, reused: Int, failures: [ImageCache.Failure])
    case epochStarted(epoch: Int, steps: Int, firstStep: Int)
    /// One optimizer step; `batch` counts within the epoch from 1.
    case step(LogRecord, batch: Int, steps: Int)
    case validated(LogRecord)
    case learningRateDecayed(to: Double)
}

/// How a run ended (errors are thrown instead).
public enum TrainingOutcome: Sendable, Equatable {
    /// All epochs done.
    case completed(epochs: Int)
    /// No better validation score for `earlyStoppingPatience` epochs.
    case stoppedEarly(epoch: Int)
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
///                              at each epoch end or stop: checkpoints/step-N.x/{model.safetensors,
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
    /// used, except the stopping conditions (epochs, minutes, steps) and threads.
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

    /// Runs until done or stopped. `shouldStop` is polled between steps (and between
    /// cache chunks); when it returns true the run saves `last` and its state and
    /// returns `.interrupted`.
    public func run(shouldStop: @escaping () -> Bool = { false },
                    events: @escaping (TrainingEvent) -> Void = { _ in }) throws(TrainingError) -> TrainingOutcome {
        let started = Date()
        if let problem = options.problem() { throw .invalidOptions(problem) }
        // With ground truth (a glimpse synth dataset), validation reports the content scores.
        let groundTruth: [String: GroundTruth]?
        do {
            groundTruth = try GroundTruthFile.load(captionSource: dataset.captionSource, root: dataset.root)
        } catch {
            throw .groundTruth(error)
        }
        if !resume { try Self.checkSelection(options, dataset: dataset, groundTruth: groundTruth) }
        do {
            try FileManager.default.createDirectory(atPath: layout.directory, withIntermediateDirectories: true)
        } catch {
            throw .file(path: layout.directory, reason: (error as NSError).localizedDescription)
        }
        // Opened and locked first: one process per run folder, for the whole run.
        let log = try LogWriter(path: layout.log)
        try CheckpointSet.checkLinks(in: layout)

        // MARK: Options, vocabulary, model: fresh or from the run folder
        var options = self.options
        var configuration: RunConfiguration
        let vocabulary: Vocabulary
        var trainer: Trainer
        var generator: SeededGenerator
        var position: DataPosition
        var progress: RunProgress
        let inspection: DatasetInspection
        if resume {
            configuration = try JSONFile.read(RunConfiguration.self, from: layout.configuration)
            let saved = configuration.options
            options = saved
            // The stopping conditions and threads belong to this invocation; without
            // epochs or minutes, the saved epoch count stands.
            options.epochs = self.options.epochs ?? (self.options.minutes == nil ? saved.epochs : nil)
            options.minutes = self.options.minutes
            options.maximumSteps = self.options.maximumSteps
            options.threads = self.options.threads
            configuration.options = options
            try Self.checkSelection(options, dataset: dataset, groundTruth: groundTruth)
            Parallel.use(cores: options.threads)
            inspection = try Self.inspect(dataset, minimumWordCount: configuration.minimumWordCount, threads: options.threads)
            events(.inspected(inspection))
            let loaded = try CheckpointSet.load(from: layout)
            // What a killed save left (newer partial sets, temporary files) goes; so do the
            // log's records past the set.
            try CheckpointSet.adopt(loaded.folder, in: layout)
            try LogWriter.cut(layout.log, afterStep: loaded.state.optimizer.stepCount)
            let checkpoint = loaded.checkpoint, state = loaded.state
            for skipped in loaded.skipped { events(.skippedCheckpointSet(folder: skipped.folder, reason: skipped.reason)) }
            vocabulary = checkpoint.vocabulary
            progress = loaded.progress
            trainer = Trainer(model: checkpoint.model, optimizer: state.optimizer,
                              maxGradientNorm: options.gradientClip, scheduledSampling: options.scheduledSampling)
            generator = state.generator
            position = state.dataPosition
            if progress.finished { return .alreadyFinished }
            events(.resumed(position, step: trainer.stepCount, from: loaded.folder))
        } else {
            if CheckpointSet.anySaved(in: layout) { throw .runExists(directory: layout.directory) }
            // A run killed before its first complete save left only its log, partial folders
            // and temporary files.
            CheckpointSet.clearIncomplete(in: layout)
            try LogWriter.cut(layout.log, afterStep: 0)
            Parallel.use(cores: options.threads)
            let minimumCount = Self.minimumWordCount(for: dataset, options: options)
            inspection = try Self.inspect(dataset, minimumWordCount: minimumCount, threads: options.threads)
            events(.inspected(inspection))
            let model: ModelConfiguration
            if let initialPath = options.initialModel {
                // Fine-tuning: the checkpoint's weights, vocabulary and input size; a fresh optimizer.
                let start: Checkpoint
                do { start = try Checkpoint(contentsOf: initialPath) } catch { throw .checkpoint(error) }
                vocabulary = start.vocabulary
                model = start.model.configuration
                options.imageSize = model.imageSize
                trainer = Trainer(model: start.model, optimizer: Adam(learningRate: options.learningRate),
                                  maxGradientNorm: options.gradientClip, scheduledSampling: options.scheduledSampling)
            } else {
                let eligible = Vocabulary.build(from: dataset.images(in: .train).flatMap { $0.captions.map(CaptionTokenizer.tokenize) },
                                                minimumCount: minimumCount)
                vocabulary = eligible.truncated(to: TrainingOptions.Limits.vocabularySize)
                if eligible.count > vocabulary.count {
                    events(.vocabularyCapped(kept: vocabulary.count, dropped: eligible.count - vocabulary.count))
                }
                do { model = try options.modelConfiguration(vocabularySize: vocabulary.count) } catch { throw .model(error) }
                var initGenerator = SeededGenerator(seed: options.seed)
                trainer = Trainer(model: CaptioningModel(configuration: model, using: &initGenerator),
                                  optimizer: Adam(learningRate: options.learningRate),
                                  maxGradientNorm: options.gradientClip, scheduledSampling: options.scheduledSampling)
            }
            // Training draws (dropout, sampling) from a stream separate from initialisation.
            generator = SeededGenerator(seed: options.seed &+ 0x5EED)
            position = DataPosition(epoch: 0, batchIndex: 0, shuffleSeed: options.seed)
            progress = RunProgress()
            configuration = RunConfiguration(options: options, model: model, dataset: dataset.root,
                                             datasetFormat: dataset.format, minimumWordCount: minimumCount,
                                             trainingImages: dataset.images(in: .train).count,
                                             validationImages: dataset.images(in: .validation).count)
            do {
                try FileBytes.writeAtomically(Array(vocabulary.fileContents.utf8), to: layout.vocabulary)
            } catch {
                throw .write(error)
            }
        }
        events(.vocabulary(size: vocabulary.count, minimumWordCount: configuration.minimumWordCount))

        // MARK: Image cache: every training and validation image decoded once
        let preprocessing = Preprocessing(imageSize: options.imageSize)
        let cache: ImageCache
        do {
            cache = try ImageCache(directory: options.cacheDirectory ?? layout.defaultCache, preprocessing: preprocessing)
        } catch {
            throw .cache(error)
        }
        let unusable = Set(inspection.unusableImages.map(\.path))
        let trainImages = dataset.images(in: .train).filter { !unusable.contains($0.path) }
        var validationImages = dataset.images(in: .validation).filter { !unusable.contains($0.path) && !$0.captions.isEmpty }
        if let limit = options.validationImages { validationImages = Array(validationImages.prefix(limit)) }
        let toCache = trainImages.map(\.path) + validationImages.map(\.path)
        var decodedCount = 0, reusedCount = 0, failures: [ImageCache.Failure] = []
        // In chunks, so that a stop request is honoured while the cache fills.
        let chunk = 256
        let pending = toCache.filter { !cache.contains($0) }.count
        var decodedSoFar = 0
        // Checked before the first byte: a cache that cannot fit would fill the disk and fail.
        let needed = pending * 3 * options.imageSize * options.imageSize
        if pending > 0, let available = (hooks.freeBytes ?? Self.freeBytes(at:))(cache.directory), needed > available {
            throw .cacheTooLarge(directory: cache.directory, needed: needed, available: available)
        }
        // Announced before the first chunk, so that the caller's rate starts with the work.
        if pending > 0 { events(.caching(done: 0, total: pending)) }
        for start in stride(from: 0, to: toCache.count, by: chunk) {
            // Nothing is saved yet: a fresh run stopped here simply starts again.
            if shouldStop() { return .interrupted(step: trainer.stepCount) }
            let paths = Array(toCache[start..<min(toCache.count, start + chunk)])
            let chunkPending = paths.filter { !cache.contains($0) }.count
            let report: ImageCache.FillReport
            do {
                report = try cache.fill(paths, threads: options.threads) { done, _ in
                    events(.caching(done: decodedSoFar + done, total: pending))
                }
            } catch {
                throw .cache(error)
            }
            decodedSoFar += chunkPending
            decodedCount += report.decoded
            reusedCount += report.reused
            failures += report.failures
        }
        events(.cached(decoded: decodedCount, reused: reusedCount, failures: failures))
        let examples = TrainingExample.make(trainImages.filter { cache.pixels(for: $0.path) != nil },
                                            vocabulary: vocabulary, maximumLength: options.maximumCaptionLength)
        if examples.isEmpty {
            var report = inspection.lines()
            report.append("images that could not be decoded: \(failures.count)")
            report += failures.prefix(20).map { "  \($0)" }
            throw .noUsableTrainingImages(root: dataset.root, report: report)
        }
        validationImages = validationImages.filter { cache.pixels(for: $0.path) != nil }
        // Self-critical training's reward: CIDEr-D against each training image's references,
        // with document frequencies over all of them.
        var reward = options.selfCritical == true ? CIDErDReward(references: examples.map(\.captions)) : nil

        if !resume {
            configuration.trainingImages = examples.count
            configuration.validationImages = validationImages.count
        }
        try JSONFile.write(configuration, to: layout.configuration)

        // MARK: Epochs
        func save(_ checkpointPath: String? = nil) throws(TrainingError) {
            let checkpoint = Checkpoint(model: trainer.model, vocabulary: vocabulary, preprocessing: preprocessing)
            if let checkpointPath {
                do { try checkpoint.write(to: checkpointPath) } catch { throw .checkpoint(error) }
                return
            }
            // The log first: a set never names a step whose records could still be lost.
            try log.sync()
            try CheckpointSet.commit(in: layout, checkpoint: checkpoint,
                                     state: trainer.trainingState(generator: generator, dataPosition: position),
                                     progress: progress, pause: savePause)
        }
        func stopReason() -> TrainingOutcome? {
            if shouldStop() { return .interrupted(step: trainer.stepCount) }
            if let maximum = options.maximumSteps, trainer.stepCount >= maximum { return .stepLimitReached(step: trainer.stepCount) }
            if let minutes = options.minutes, Date().timeIntervalSince(started) >= minutes * 60 {
                return .timeBudgetReached(step: trainer.stepCount)
            }
            return nil
        }

        /// Validates the model as it is now (the end of `epoch`, or the steps done of it when a
        /// budget ends it), saves it as `best` when it beats the best so far, and returns the
        /// record (not yet logged). Without a validation split, the mean training loss decides.
        func validateAndKeepBest(epoch: Int, lossSum: Double, lossCount: Int) throws(TrainingError) -> LogRecord {
            var record = LogRecord(kind: .validation, step: trainer.stepCount, epoch: epoch,
                                   learningRate: trainer.optimizer.learningRate)
            let score: Double?
            var tiebreak: Double? = nil
            if !validationImages.isEmpty {
                let (captions, scores) = Self.validate(trainer.model, images: validationImages, cache: cache,
                                                       vocabulary: vocabulary, batchSize: options.validationBatchSize)
                record.bleu4 = scores?.bleu4
                record.ciderD = scores?.ciderD
                record.validationImages = validationImages.count
                var content: ContentScores?
                if let groundTruth {
                    let scored = ContentEvaluator.evaluate(captions: captions, groundTruth: groundTruth)
                    if scored.captions > 0 { content = scored }
                }
                record.content = content?.summary
                switch options.selectionMetric {
                case .ciderD:
                    score = scores?.ciderD
                case .content:
                    score = content?.exactMatch
                    tiebreak = scores?.ciderD
                }
            } else {
                record.loss = lossCount > 0 ? Float(lossSum / Double(lossCount)) : nil
                score = lossCount > 0 ? -lossSum / Double(lossCount) : nil
            }
            let improved = score.map { candidate in
                Self.improves(candidate, tiebreak: tiebreak, on: progress.bestScore, tiebreak: progress.bestTiebreak)
            } ?? false
            record.best = improved
            if improved {
                progress.bestScore = score
                progress.bestTiebreak = tiebreak
                progress.bestEpoch = epoch
                try save(layout.best)
            }
            return record
        }

        /// The share of the run's horizon behind us: of its epochs, or of this invocation's time budget.
        func horizonDone(epochProgress: Double) -> Double {
            var done = 0.0
            if let epochs = options.epochs { done = (Double(position.epoch) + epochProgress) / Double(epochs) }
            if let minutes = options.minutes { done = max(done, Date().timeIntervalSince(started) / (minutes * 60)) }
            return min(1, done)
        }

        while options.epochs.map({ position.epoch < $0 }) ?? true {
            let plan = EpochPlan.batches(examples: examples, imagesPerBatch: options.imagesPerBatch,
                                         seed: position.shuffleSeed, epoch: position.epoch)
            events(.epochStarted(epoch: position.epoch + 1, steps: plan.count, firstStep: position.batchIndex + 1))
            let prefetcher = BatchPrefetcher(examples: examples, plan: plan, startIndex: position.batchIndex, cache: cache,
                                             captionsPerImage: options.captionsPerImage, epoch: position.epoch)
            defer { prefetcher.cancel() }
            var lossSum = 0.0, lossCount = 0
            while position.batchIndex < plan.count {
                if let reason = stopReason() {
                    if case .timeBudgetReached = reason, lossCount > 0 {
                        // The budget ends inside an epoch: the steps since its start are validated
                        // too, so `best` is never older than the budget's last steps.
                        let record = try validateAndKeepBest(epoch: position.epoch + 1, lossSum: lossSum, lossCount: lossCount)
                        try log.append(record)
                        events(.validated(record))
                    }
                    try save()
                    try log.append(LogRecord(kind: .stop, step: trainer.stepCount, epoch: position.epoch + 1,
                                             reason: "\(reason)"))
                    try log.sync()
                    return reason
                }
                let stepStart = Date()
                guard let batch = prefetcher.next() else { break }
                position.batchIndex += 1
                guard !batch.captions.isEmpty else { continue }
                let size = batch.imageSize
                let captionBatch = CaptionBatch(
                    images: Tensor(shape: [batch.imageCount, 3, size, size], scalars: batch.pixels),
                    captions: zip(batch.captionImages, batch.captions).map { CaptionBatch.Caption(imageIndex: $0, tokens: $1) })
                if let scheduled = options.scheduledLearningRate(
                    step: trainer.stepCount, done: horizonDone(epochProgress: Double(position.batchIndex - 1) / Double(plan.count))) {
                    trainer.optimizer.learningRate = scheduled
                }
                let learningRate = trainer.optimizer.learningRate
                var record = LogRecord(kind: .step, step: 0, epoch: position.epoch + 1, learningRate: learningRate)
                if reward != nil {
                    let result = trainer.selfCriticalStep(
                        images: captionBatch.images, perImage: options.selfCriticalSamples ?? 5,
                        maximumLength: options.selfCriticalMaximumLength,
                        reward: { image, caption in reward!.score(caption, image: batch.exampleIndices[image]) },
                        references: captionBatch.captions, crossEntropyWeight: options.selfCriticalCrossEntropy ?? 0,
                        using: &generator)
                    (record.loss, record.gradientNorm, record.reward) = (result.loss, result.gradientNorm, result.meanReward)
                } else {
                    let result = trainer.step(captionBatch, using: &generator)
                    (record.loss, record.crossEntropy, record.attentionPenalty, record.gradientNorm) =
                        (result.loss, result.crossEntropy, result.attentionPenalty, result.gradientNorm)
                    record.wordDetection = trainer.model.wordDetector == nil ? nil : result.wordDetection
                }
                hooks.afterStep?(&trainer, trainer.stepCount)
                record.step = trainer.stepCount
                record.imagesPerSecond = Double(batch.imageCount) / max(Date().timeIntervalSince(stepStart), 1e-9)
                try log.append(record)
                let (loss, gradientNorm) = (record.loss ?? .nan, record.gradientNorm ?? .nan)
                guard loss.isFinite, gradientNorm.isFinite else {
                    // The update already used the bad gradients: save nothing, so `last` stays good.
                    try log.append(LogRecord(kind: .stop, step: trainer.stepCount, epoch: position.epoch + 1,
                                             reason: "non-finite loss \(loss) or gradient norm \(gradientNorm)"))
                    try log.sync()
                    return .nonFiniteLoss(step: trainer.stepCount, epoch: position.epoch + 1, loss: loss,
                                          gradientNorm: gradientNorm)
                }
                lossSum += Double(loss)
                lossCount += 1
                events(.step(record, batch: position.batchIndex, steps: plan.count))
            }

            // MARK: End of epoch: validate, keep the best, adjust the rate, save `last`
            let epoch = position.epoch + 1
            position = DataPosition(epoch: position.epoch + 1, batchIndex: 0, shuffleSeed: position.shuffleSeed)
            progress.completedEpochs = epoch
            var record = try validateAndKeepBest(epoch: epoch, lossSum: lossSum, lossCount: lossCount)
            if record.best == true {
                progress.epochsWithoutImprovement = 0
                progress.epochsSinceLearningRateChange = 0
            } else {
                progress.epochsWithoutImprovement += 1
                progress.epochsSinceLearningRateChange += 1
                if options.schedule == .plateau && progress.epochsSinceLearningRateChange >= options.learningRatePatience {
                    trainer.optimizer.learningRate *= options.learningRateDecay
                    progress.epochsSinceLearningRateChange = 0
                    events(.learningRateDecayed(to: trainer.optimizer.learningRate))
                }
            }
            record.learningRate = trainer.optimizer.learningRate
            try log.append(record)
            events(.validated(record))
            let early = progress.epochsWithoutImprovement >= options.earlyStoppingPatience
            let allDone = options.epochs.map { position.epoch >= $0 } ?? false
            progress.finished = early
            try save()
            if early { return .stoppedEarly(epoch: epoch) }
            if allDone { return .completed(epochs: epoch) }
        }
        return .completed(epochs: position.epoch)
    }

    // MARK: - Steps of the run

    /// Bytes an unprivileged writer may still use on the file system holding `path`.
    static func freeBytes(at path: String) -> Int? {
        var status = statvfs()
        guard statvfs(path, &status) == 0 else { return nil }
        return Int(status.f_bavail) * Int(status.f_frsize)
    }

    /// The same checks as `glimpse inspect`; stops with its report when nothing is usable.
    static func inspect(_ dataset: Dataset, minimumWordCount: Int, threads: Int) throws(TrainingError) -> DatasetInspection {
        let inspection = DatasetInspection.inspect(dataset, minimumWordCount: minimumWordCount, checkImages: true,
                                                   threads: threads)
        if inspection.usableTrainingImages == 0 {
            throw .noUsableTrainingImages(root: dataset.root, report: inspection.lines())
        }
        return inspection
    }

    /// The requested minimum count, lowered (down to 1) while more than
    /// `maximumUnknownRate` of the training words would become `<unk>`.
    static func minimumWordCount(for dataset: Dataset, options: TrainingOptions) -> Int {
        minimumWordCount(trainingCaptions: dataset.images(in: .train).flatMap(\.captions), options: options)
    }

    static func minimumWordCount(trainingCaptions: [String], options: TrainingOptions) -> Int {
        guard options.adaptMinimumWordCount else { return options.minimumWordCount }
        var counts: [String: Int] = [:]
        var total = 0
        for caption in trainingCaptions {
            for word in CaptionTokenizer.tokenize(caption) { counts[word, default: 0] += 1; total += 1 }
        }
        guard total > 0 else { return options.minimumWordCount }
        var minimum = options.minimumWordCount
        while minimum > 1 {
            let unknown = counts.values.reduce(0) { $0 + ($1 < minimum ? $1 : 0) }
            if Double(unknown) / Double(total) <= options.maximumUnknownRate { break }
            minimum -= 1
        }
        return minimum
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

    /// Greedy captions (no teacher forcing) for `images` (image id → caption), and their
    /// scores against the raw reference captions (nil if the evaluator refuses the set).
    static func validate(_ model: CaptioningModel, images: [DatasetImage], cache: ImageCache, vocabulary: Vocabulary,
                         batchSize: Int) -> (captions: [String: String], scores: CaptionScores?) {
        // The captioning pipeline's own search, on the cache's pixels instead of files.
        let captioner = Captioner(checkpoint: Checkpoint(model: model, vocabulary: vocabulary, preprocessing: cache.preprocessing))
        let size = cache.imageSize, plane = 3 * size * size
        var candidates: [String: String] = [:], references: [String: [String]] = [:]
        for start in stride(from: 0, to: images.count, by: batchSize) {
            let group = Array(images[start..<min(images.count, start + batchSize)])
            let inputs = group.map { image in
                var pixels = [Float](repeating: 0, count: plane)
                if let source = cache.pixels(for: image.path) {
                    pixels.withUnsafeMutableBufferPointer { cache.preprocessing.normalize(resizedPixels: source, into: $0) }
                }
                return pixels
            }
            let results = captioner.caption(inputs, options: DecodingOptions(beamSize: 1, maximumLength: 30))
            for (image, result) in zip(group, results) {
                candidates[image.id] = captioner.text(result.best)
                references[image.id] = image.captions
            }
        }
        return (candidates, try? CaptionEvaluator.evaluate(references: references, candidates: candidates))
    }
}
