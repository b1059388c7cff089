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
    /// The step losses of the epoch under way (of earlier invocations too, when resumed inside it).
    var epochLoss: (sum: Double, count: Int)
    /// Optimizer steps taken by this invocation.
    var stepsTaken = 0
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
        epochLoss = (start.progress.epochLossSum ?? 0, start.progress.epochLossCount ?? 0)
        progress.epochLossSum = nil
        progress.epochLossCount = nil
        reward = options.selfCritical == true ? CIDErDReward(references: data.examples.map(\.captions)) : nil
    }

    /// Epochs until the run's end, a stop or a budget.
    func train() throws(TrainingError) -> TrainingOutcome {
        while options.epochs.map({ position.epoch < $0 }) ?? true {
            if let outcome = try trainEpoch() { return outcome }
            if let outcome = try endEpoch() { return outcome }
        }
        return .completed(epochs: position.epoch)
    }

    /// The rest of the current epoch's batches, `last` saved every `saveEvery` steps; an outcome
    /// when the run stops inside it.
    private func trainEpoch() throws(TrainingError) -> TrainingOutcome? {
        let plan = EpochPlan.batches(examples: examples, imagesPerBatch: options.imagesPerBatch,
                                     seed: position.shuffleSeed, epoch: position.epoch)
        events(.epochStarted(epoch: position.epoch + 1, firstStep: position.batchIndex + 1,
                             horizon: TrainingHorizon(epochs: options.epochs, stepsPerEpoch: plan.count,
                                                      timeBudget: options.minutes.map { $0 * 60 },
                                                      maximumSteps: options.maximumSteps, started: started)))
        let prefetcher = BatchPrefetcher(examples: examples, plan: plan, startIndex: position.batchIndex, inputs: inputs,
                                         captionsPerImage: options.captionsPerImage, epoch: position.epoch)
        defer { prefetcher.cancel() }
        while position.batchIndex < plan.count {
            if let reason = stopReason() {
                try stopInsideEpoch(reason)
                return reason
            }
            let stepStart = Date()
            guard let batch = prefetcher.next() else { break }
            position.batchIndex += 1
            guard !batch.batch.captions.isEmpty else { continue }
            if let outcome = try step(batch, planCount: plan.count, started: stepStart) { return outcome }
            // The epoch's end saves anyway.
            if let every = options.saveEvery, trainer.stepCount % every == 0, position.batchIndex < plan.count {
                try save()
            }
        }
        return nil
    }

    /// A stop request or a budget ends the run inside an epoch: a time budget's steps are
    /// validated first (so `best` is never older than its last steps), then the stop is logged
    /// and `last` saved at the exact position.
    private func stopInsideEpoch(_ reason: TrainingOutcome) throws(TrainingError) {
        if case .timeBudgetReached = reason, stepsTaken > 0, epochLoss.count > 0 {
            let record = try validateAndKeepBest(epoch: position.epoch + 1)
            try log.append(record)
            events(.validated(record))
        }
        try logStop(reason, epoch: position.epoch + 1)
        try save()
    }

    /// One optimizer step on `batch`, logged and added to the epoch's loss; an outcome only when
    /// its loss or gradient is not finite.
    private func step(_ batch: TrainingBatch, planCount: Int, started stepStart: Date) throws(TrainingError) -> TrainingOutcome? {
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
        let loss = record.loss ?? .nan, gradientNorm = record.gradientNorm ?? .nan
        guard loss.isFinite, gradientNorm.isFinite else {
            // The update already used the bad gradients: save nothing, so `last` stays good.
            let outcome = TrainingOutcome.nonFiniteLoss(step: trainer.stepCount, epoch: position.epoch + 1, loss: loss,
                                                        gradientNorm: gradientNorm)
            try logStop(outcome, epoch: position.epoch + 1)
            try log.sync()
            return outcome
        }
        stepsTaken += 1
        epochLoss.sum += Double(loss)
        epochLoss.count += 1
        events(.step(record, batch: position.batchIndex, steps: planCount))
        return nil
    }

    /// Validation, the best model, the plateau schedule and early stopping, then the epoch's
    /// checkpoint set; an outcome when the run ends here.
    private func endEpoch() throws(TrainingError) -> TrainingOutcome? {
        let epoch = position.epoch + 1
        position = DataPosition(epoch: position.epoch + 1, batchIndex: 0, shuffleSeed: position.shuffleSeed)
        progress.completedEpochs = epoch
        var record = try validateAndKeepBest(epoch: epoch)
        epochLoss = (0, 0)
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
        var outcome: TrainingOutcome?
        if progress.epochsWithoutImprovement >= options.earlyStoppingPatience {
            outcome = .stoppedEarly(epoch: epoch, patience: options.earlyStoppingPatience, metric: options.selectionMetric)
            progress.finished = true
        } else if let epochs = options.epochs, position.epoch >= epochs {
            outcome = .completed(epochs: epoch)
        }
        if let outcome { try logStop(outcome, epoch: epoch) }
        try save()
        return outcome
    }

    /// The stop record of `log.jsonl`: why the run ended, in words.
    private func logStop(_ outcome: TrainingOutcome, epoch: Int) throws(TrainingError) {
        try log.append(LogRecord(kind: .stop, step: trainer.stepCount, epoch: epoch, reason: outcome.reason))
    }

    /// The checkpoint set for `last` (the log synced first), or just the weights at `path` (`best`,
    /// with the feature summary that lets `caption` flag images unlike the training images).
    private func save(to checkpointPath: String? = nil) throws(TrainingError) {
        var checkpoint = Checkpoint(model: trainer.model, vocabulary: vocabulary, preprocessing: preprocessing)
        if let checkpointPath {
            do {
                checkpoint.featureSummary = try TrainingRun.featureSummary(
                    trainer.model, inputs: inputs, training: examples.map(\.path), validation: validationImages.map(\.path),
                    batchSize: options.validationBatchSize)
            } catch {
                events(.featureSummaryFailed(error))
            }
            do { try checkpoint.write(to: checkpointPath) } catch { throw .checkpoint(error) }
            return
        }
        // The log first: a set never names a step whose records could still be lost.
        try log.sync()
        var progress = progress
        if epochLoss.count > 0 { (progress.epochLossSum, progress.epochLossCount) = epochLoss }
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
    func validateAndKeepBest(epoch: Int) throws(TrainingError) -> LogRecord {
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
            let mean = epochLoss.count > 0 ? epochLoss.sum / Double(epochLoss.count) : nil
            record.loss = mean.map(Float.init)
            score = mean.map { -$0 }
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
