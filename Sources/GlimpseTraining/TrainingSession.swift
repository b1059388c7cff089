import Foundation
import GlimpseData
import GlimpseImage
import GlimpseMetrics
import GlimpseModel
import GlimpseSynth
import GlimpseTensor
import GlimpseSupport
import GlimpseText

/// The training loop of one `TrainingRun` invocation, once its start and data are ready:
/// epochs of steps, each epoch ended by validation (keeping the best, lowering the rate on a
/// plateau, stopping early) and a checkpoint set; a stop request, a time or step budget, or a
/// non-finite loss ends it between steps.
final class TrainingSession {
    let run: TrainingRun
    let layout: RunLayout
    let options: TrainingOptions
    let vocabulary: Vocabulary
    let preprocessing: Preprocessing
    let inputs: TrainingInputs
    let examples: [TrainingExample]
    let validationImages: [DatasetImage]
    let groundTruth: [String: GroundTruth]?
    let log: LogWriter
    let started: Date
    let shouldStop: () -> Bool
    let events: (TrainingEvent) -> Void
    var trainer: Trainer
    var generator: SeededGenerator
    var position: DataPosition
    var progress: RunProgress
    /// Self-critical training's reward: CIDEr-D against each training image's references,
    /// with document frequencies over all of them.
    var reward: CIDErDReward?

    init(run: TrainingRun, start: TrainingRun.Start, data: TrainingRun.TrainingData, log: LogWriter,
         groundTruth: [String: GroundTruth]?, started: Date, shouldStop: @escaping () -> Bool,
         events: @escaping (TrainingEvent) -> Void) {
        self.run = run
        layout = run.layout
        options = start.options
        vocabulary = start.vocabulary
        preprocessing = data.inputs.preprocessing
        inputs = data.inputs
        examples = data.examples
        validationImages = data.validationImages
        self.groundTruth = groundTruth
        self.log = log
        self.started = started
        self.shouldStop = shouldStop
        self.events = events
        trainer = start.trainer
        generator = start.generator
        position = start.position
        progress = start.progress
        reward = options.selfCritical == true ? CIDErDReward(references: data.examples.map(\.captions)) : nil
    }

    /// Epochs until the run's end, a stop or a budget.
    func train() throws(TrainingError) -> TrainingOutcome {
        while options.epochs.map({ position.epoch < $0 }) ?? true {
            let (outcome, lossSum, lossCount) = try trainEpoch()
            if let outcome { return outcome }
            if let outcome = try endEpoch(lossSum: lossSum, lossCount: lossCount) { return outcome }
        }
        return .completed(epochs: position.epoch)
    }

    /// The rest of the current epoch's batches: an outcome when the run stops inside it, and
    /// the sum and count of its step losses.
    private func trainEpoch() throws(TrainingError) -> (TrainingOutcome?, Double, Int) {
        let plan = EpochPlan.batches(examples: examples, imagesPerBatch: options.imagesPerBatch,
                                     seed: position.shuffleSeed, epoch: position.epoch)
        events(.epochStarted(epoch: position.epoch + 1, steps: plan.count, firstStep: position.batchIndex + 1))
        let prefetcher = BatchPrefetcher(examples: examples, plan: plan, startIndex: position.batchIndex, inputs: inputs,
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
                return (reason, lossSum, lossCount)
            }
            let stepStart = Date()
            guard let batch = prefetcher.next() else { break }
            position.batchIndex += 1
            guard !batch.batch.captions.isEmpty else { continue }
            var loss: Float = 0
            if let outcome = try step(batch, planCount: plan.count, started: stepStart, loss: &loss) {
                return (outcome, lossSum, lossCount)
            }
            lossSum += Double(loss)
            lossCount += 1
        }
        return (nil, lossSum, lossCount)
    }

    /// One optimizer step on `batch`, logged; an outcome only when its loss or gradient is not finite.
    private func step(_ batch: TrainingBatch, planCount: Int, started stepStart: Date,
                      loss: inout Float) throws(TrainingError) -> TrainingOutcome? {
        let captionBatch = batch.batch
        if let scheduled = options.scheduledLearningRate(
            step: trainer.stepCount, done: horizonDone(epochProgress: Double(position.batchIndex - 1) / Double(planCount))) {
            trainer.optimizer.learningRate = scheduled
        }
        let learningRate = trainer.optimizer.learningRate
        var record = LogRecord(kind: .step, step: 0, epoch: position.epoch + 1, learningRate: learningRate)
        if var reward {
            defer { self.reward = reward }
            let result = trainer.selfCriticalStep(
                images: captionBatch.images, perImage: options.selfCriticalSamples ?? 5,
                maximumLength: options.selfCriticalMaximumLength,
                reward: { image, caption in reward.score(caption, image: batch.exampleIndices[image]) },
                references: captionBatch.captions, crossEntropyWeight: options.selfCriticalCrossEntropy ?? 0,
                using: &generator)
            (record.loss, record.gradientNorm, record.reward) = (result.loss, result.gradientNorm, result.meanReward)
        } else {
            let result = trainer.step(captionBatch, using: &generator)
            (record.loss, record.crossEntropy, record.attentionPenalty, record.gradientNorm) =
                (result.loss, result.crossEntropy, result.attentionPenalty, result.gradientNorm)
            record.wordDetection = trainer.model.wordDetector == nil ? nil : result.wordDetection
        }
        run.hooks.afterStep?(&trainer, trainer.stepCount)
        record.step = trainer.stepCount
        record.imagesPerSecond = Double(batch.imageCount) / max(Date().timeIntervalSince(stepStart), 1e-9)
        try log.append(record)
        let gradientNorm = record.gradientNorm ?? .nan
        loss = record.loss ?? .nan
        guard loss.isFinite, gradientNorm.isFinite else {
            // The update already used the bad gradients: save nothing, so `last` stays good.
            try log.append(LogRecord(kind: .stop, step: trainer.stepCount, epoch: position.epoch + 1,
                                     reason: "non-finite loss \(loss) or gradient norm \(gradientNorm)"))
            try log.sync()
            return .nonFiniteLoss(step: trainer.stepCount, epoch: position.epoch + 1, loss: loss,
                                  gradientNorm: gradientNorm)
        }
        events(.step(record, batch: position.batchIndex, steps: planCount))
        return nil
    }

    /// Validation, the best model, the plateau schedule and early stopping, then the epoch's
    /// checkpoint set; an outcome when the run ends here.
    private func endEpoch(lossSum: Double, lossCount: Int) throws(TrainingError) -> TrainingOutcome? {
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
        return nil
    }

    /// The checkpoint set for `last` (the log synced first), or just the weights at `path` (`best`,
    /// with the feature summary that lets `caption` flag images unlike the training images).
    private func save(to checkpointPath: String? = nil) throws(TrainingError) {
        var checkpoint = Checkpoint(model: trainer.model, vocabulary: vocabulary, preprocessing: preprocessing)
        if let checkpointPath {
            checkpoint.featureSummary = TrainingRun.featureSummary(
                trainer.model, inputs: inputs, training: examples.map(\.path), validation: validationImages.map(\.path),
                batchSize: options.validationBatchSize)
            do { try checkpoint.write(to: checkpointPath) } catch { throw .checkpoint(error) }
            return
        }
        // The log first: a set never names a step whose records could still be lost.
        try log.sync()
        try CheckpointSet.commit(in: layout, checkpoint: checkpoint,
                                 state: trainer.trainingState(generator: generator, dataPosition: position),
                                 progress: progress, pause: run.savePause)
    }

    private func stopReason() -> TrainingOutcome? {
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
            let (captions, scores) = TrainingRun.validate(trainer.model, images: validationImages, inputs: inputs,
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
            TrainingRun.improves(candidate, tiebreak: tiebreak, on: progress.bestScore, tiebreak: progress.bestTiebreak)
        } ?? false
        record.best = improved
        if improved {
            progress.bestScore = score
            progress.bestTiebreak = tiebreak
            progress.bestEpoch = epoch
            try save(to: layout.best)
        }
        return record
    }

    /// The share of the run's horizon behind us: of its epochs, or of this invocation's time budget.
    private func horizonDone(epochProgress: Double) -> Double {
        var done = 0.0
        if let epochs = options.epochs { done = (Double(position.epoch) + epochProgress) / Double(epochs) }
        if let minutes = options.minutes { done = max(done, Date().timeIntervalSince(started) / (minutes * 60)) }
        return min(1, done)
    }
}
