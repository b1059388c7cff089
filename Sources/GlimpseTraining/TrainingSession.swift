import Foundation
import GlimpseData
import GlimpseDistributed
import GlimpseImage
import GlimpseLayers
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
    /// The run's log: on the rank that writes (rank 0) only.
    let log: LogWriter?
    /// The ranks of a data-parallel run (`.single` alone).
    let group: ProcessGroup
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
    /// A data-parallel run's stop, as the ranks agreed in the last step's exchange (any rank's
    /// stop request, rank 0's clock): taken before the next step, on every rank alike.
    var agreedStop: TrainingOutcome?
    /// Rank 0's share of the time budget used, as of the last step's exchange: the time a
    /// data-parallel run's learning-rate schedule goes by, the same on every rank.
    var agreedTimeDone: Double?

    init(run: TrainingRun, start: TrainingRun.Start, data: TrainingRun.TrainingData, log: LogWriter?,
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
        group = run.processGroup
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
        if group.isDistributed, options.synchronizedBatchNorm == true {
            let group = group
            trainer.model.synchronizeBatchNorm(through: StatisticsExchange { values in
                do {
                    try group.sum(&values, what: "summing BatchNorm statistics", timed: true)
                } catch {
                    // Inside a layer's pass there is no way back out: this rank says why and ends the job.
                    group.abort(saying: "\(error)")
                }
            })
        }
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
        let share = group.isDistributed ? BatchShare(rank: group.rank, ranks: group.size) : nil
        let prefetcher = BatchPrefetcher(examples: examples, plan: plan, startIndex: position.batchIndex, inputs: inputs,
                                         captionsPerImage: options.captionsPerImage, epoch: position.epoch, share: share)
        defer { prefetcher.cancel() }
        while position.batchIndex < plan.count {
            if let reason = stopReason() {
                try stopInsideEpoch(reason)
                return reason
            }
            let stepStart = Date()
            guard let batch = prefetcher.next() else { break }
            position.batchIndex += 1
            // A batch with fewer images than ranks (an epoch's short last one) would leave a rank
            // without work: every rank skips it alike.
            guard !batch.batch.captions.isEmpty, batch.globalImageCount >= group.size else { continue }
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
            try log?.append(record)
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
            let result = group.isDistributed ? try dataParallelStep(batch, record: &record) : trainer.step(captionBatch, using: &generator)
            (record.loss, record.crossEntropy, record.attentionPenalty, record.gradientNorm) =
                (result.loss, result.crossEntropy, result.attentionPenalty, result.gradientNorm)
            record.wordDetection = trainer.model.wordDetector == nil ? nil : result.wordDetection
        }
        run.hooks.afterStep?(&trainer, trainer.stepCount)
        record.step = trainer.stepCount
        record.imagesPerSecond = Double(batch.globalImageCount) / max(Date().timeIntervalSince(stepStart), 1e-9)
        try log?.append(record)
        let loss = record.loss ?? .nan, gradientNorm = record.gradientNorm ?? .nan
        guard loss.isFinite, gradientNorm.isFinite else {
            // The update already used the bad gradients: save nothing, so `last` stays good.
            let outcome = TrainingOutcome.nonFiniteLoss(step: trainer.stepCount, epoch: position.epoch + 1, loss: loss,
                                                        gradientNorm: gradientNorm)
            try logStop(outcome, epoch: position.epoch + 1)
            try log?.sync()
            return outcome
        }
        stepsTaken += 1
        epochLoss.sum += Double(loss)
        epochLoss.count += 1
        events(.step(record, batch: position.batchIndex, steps: planCount))
        return nil
    }

    /// This rank's share of the step: one exchange of gradients with the other ranks (`Trainer.dataParallelStep`),
    /// which also carries each rank's stop request (and rank 0's time budget), so that all stop after
    /// the same step. Dropout draws from a stream of this rank's own, seeded from the run's stream,
    /// which every rank advances alike.
    private func dataParallelStep(_ batch: TrainingBatch, record: inout LogRecord) throws(TrainingError) -> TrainingStepResult {
        var rankGenerator = SeededGenerator(seed: SplitMix64.mix(generator.next() ^ UInt64(group.rank)))
        let budgetSpent = group.isLeader && options.minutes.map { Date().timeIntervalSince(started) >= $0 * 60 } == true
        // Rank 0's share of the time budget used rides along too: the learning-rate schedule's clock.
        let timeDone = group.isLeader ? Float(timeBudgetDone() ?? 0) : 0
        let votes: [Float] = [shouldStop() ? 1 : 0, budgetSpent ? 1 : 0, timeDone]
        let before = group.communicationSeconds
        let stepNumber = trainer.stepCount + 1
        let step: (result: TrainingStepResult, extra: [Float])
        do {
            step = try trainer.dataParallelStep(
                share: batch.batch, normalization: batch.globalNormalization!, ranks: group.size,
                averagingBuffers: options.synchronizedBatchNorm != true, extra: votes, using: &rankGenerator
            ) { (buffer: inout [Float]) throws(DistributedError) in
                try group.sum(&buffer, what: "exchanging the gradients of step \(stepNumber)", timed: true)
            }
        } catch {
            throw .distributed(error)
        }
        record.allreduceSeconds = group.communicationSeconds - before
        agreedTimeDone = Double(step.extra[2])
        if step.extra[0] > 0 {
            agreedStop = .interrupted(step: trainer.stepCount)
        } else if step.extra[1] > 0 {
            agreedStop = .timeBudgetReached(step: trainer.stepCount)
        }
        return step.result
    }

    /// Validation, the best model, the plateau schedule and early stopping, then the epoch's
    /// checkpoint set; an outcome when the run ends here.
    private func endEpoch() throws(TrainingError) -> TrainingOutcome? {
        let epoch = position.epoch + 1
        position = DataPosition(epoch: position.epoch + 1, batchIndex: 0, shuffleSeed: position.shuffleSeed)
        progress.completedEpochs = epoch
        var record = try validateAndKeepBest(epoch: epoch)
        epochLoss = (0, 0)
        var stoppedEarly = false
        if group.isLeader {
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
            stoppedEarly = progress.epochsWithoutImprovement >= options.earlyStoppingPatience
        }
        // Rank 0 validated: the others take its decisions (the learning rate, stopping early).
        try followLeader(learningRate: &trainer.optimizer.learningRate, stoppedEarly: &stoppedEarly, epoch: epoch)
        record.learningRate = trainer.optimizer.learningRate
        try log?.append(record)
        events(.validated(record))
        var outcome: TrainingOutcome?
        if stoppedEarly {
            outcome = .stoppedEarly(epoch: epoch, patience: options.earlyStoppingPatience, metric: options.selectionMetric)
            progress.finished = true
        } else if let epochs = options.epochs, position.epoch >= epochs {
            outcome = .completed(epochs: epoch)
        }
        if let outcome { try logStop(outcome, epoch: epoch) }
        try save()
        return outcome
    }

    /// Rank 0's learning rate and early stop, on every rank (nothing to do alone).
    private func followLeader(learningRate: inout Double, stoppedEarly: inout Bool, epoch: Int) throws(TrainingError) {
        guard group.isDistributed else { return }
        var bytes = group.isLeader ? withUnsafeBytes(of: learningRate.bitPattern.littleEndian, Array.init) + [stoppedEarly ? 1 : 0] : []
        do { try group.broadcast(&bytes, what: "rank 0's decisions after validating epoch \(epoch)") } catch { throw .distributed(error) }
        guard bytes.count == 9 else {
            throw .distributed(.mpi(operation: "broadcast", message: "\(bytes.count) bytes of rank 0's decisions, not 9"))
        }
        learningRate = Double(bitPattern: bytes[0..<8].reversed().reduce(0) { $0 << 8 | UInt64($1) })
        stoppedEarly = bytes[8] == 1
    }

    /// The stop record of `log.jsonl`: why the run ended, in words.
    private func logStop(_ outcome: TrainingOutcome, epoch: Int) throws(TrainingError) {
        try log?.append(LogRecord(kind: .stop, step: trainer.stepCount, epoch: epoch, reason: outcome.reason))
    }

    /// The checkpoint set for `last` (the log synced first), or just the weights at `path` (`best`,
    /// with the feature summary that lets `caption` flag images unlike the training images).
    private func save(to checkpointPath: String? = nil) throws(TrainingError) {
        if checkpointPath == nil, group.isDistributed {
            // Every rank saves `last` at the same step: a digest first proves they hold the same model.
            let same: Bool
            do {
                same = try group.sameOnEveryRank(TrainingRun.digest(trainer, position: position, examples: examples.count),
                                                 what: "comparing the ranks' models before saving step \(trainer.stepCount)")
            } catch { throw .distributed(error) }
            if !same {
                throw .distributed(.ranksDiffer(what: "models at step \(trainer.stepCount)",
                                                advice: "their reductions disagreed; nothing was saved, and the last checkpoint set stands"))
            }
        }
        guard group.isLeader else { return }
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
        try log?.sync()
        var progress = progress
        if epochLoss.count > 0 { (progress.epochLossSum, progress.epochLossCount) = epochLoss }
        try CheckpointSet.commit(in: layout, checkpoint: checkpoint,
                                 state: trainer.trainingState(generator: generator, dataPosition: position),
                                 progress: progress, pause: run.savePause)
    }

    private func stopReason() -> TrainingOutcome? {
        if group.isDistributed {
            // What every rank knows alike: the agreed stop, the step count.
            if let agreedStop { return agreedStop }
            if let maximum = options.maximumSteps, trainer.stepCount >= maximum { return .stepLimitReached(step: trainer.stepCount) }
            return nil
        }
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
        // Rank 0 alone validates and keeps `best`.
        guard group.isLeader else { return record }
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
        // Ranks go by rank 0's clock, as of the last exchange.
        if let used = group.isDistributed ? agreedTimeDone : timeBudgetDone() { done = max(done, used) }
        return min(1, done)
    }

    /// The share of this invocation's time budget used; nil without one.
    private func timeBudgetDone() -> Double? {
        options.minutes.map { Date().timeIntervalSince(started) / ($0 * 60) }
    }
}
