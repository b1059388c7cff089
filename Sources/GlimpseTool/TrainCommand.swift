import ArgumentParser
import Dispatch
import Foundation
import GlimpseData
import GlimpseDistributed
import GlimpseSupport
import GlimpseSynth
import GlimpseTraining
#if canImport(Glibc)
import Glibc
#endif

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a captioning model on a dataset folder.",
        discussion: """
        Runs the checks of `glimpse inspect` first and stops with its report when no \
        training image is usable. Images are decoded once into a cache (RUN_DIR/cache, \
        or --cache-dir to share it between runs); unreadable ones are listed and skipped. \
        Each epoch ends with greedy captions of the validation split scored by BLEU-4 and \
        CIDEr-D, and, when the dataset has ground truth (ground_truth.jsonl, as `glimpse \
        synth` writes it), by the content scores (Docs/content.md): RUN_DIR/best.safetensors \
        keeps the best CIDEr-D (or, with --select-by content, the best share of captions with \
        every object right), RUN_DIR/last the latest epoch end, stop or --save-every save: a link to one complete \
        checkpoint set (weights, optimizer state, data position and progress, written whole \
        and switched by one rename, so a kill at any instant leaves the previous set or the \
        new one), with RUN_DIR/last.safetensors linking to its weights. RUN_DIR/log.jsonl has one line per step, per validation and per stop (its reason in words); \
        config.json and vocab.txt describe the run.

        On a terminal a bar shows the epoch of the run's epochs (and the time used of a --minutes budget), \
        the cross-entropy (smoothed), images per second and the ETA of the whole run; elsewhere the same \
        as a plain line every few seconds.

        Ctrl-C or SIGTERM saves `last` with the exact data position and exits with status \
        130 (SIGINT) or 143 (SIGTERM); --resume continues exactly where it stopped, with the \
        options saved in config.json (only --epochs, --minutes, --threads and --save-every may change). \
        A NaN or infinite loss stops training (status 1) without overwriting the last good checkpoint.
        """)

    @OptionGroup var dataset: DatasetOptions

    @Option(name: .customLong("out"), help: ArgumentHelp("The run folder.", valueName: "RUN_DIR"))
    var runDirectory: String

    @Flag(help: "Continue the run in RUN_DIR from its last checkpoint set (checked first; a damaged one falls back to the previous).")
    var resume = false

    @Option(help: "Epochs to train (default 20, or unlimited with --minutes; with --resume, the run's own).")
    var epochs: Int?

    @Option(help: "Time budget of this invocation, in minutes; the run stops at a step boundary and saves last.")
    var minutes: Double?

    @Option(help: ArgumentHelp("Stop after this many optimizer steps in total (saved as for Ctrl-C).", visibility: .hidden))
    var maxSteps: Int?

    @Option(help: ArgumentHelp("""
        Also save RUN_DIR/last every N optimizer steps, not only at each epoch's end, so that a kill inside a long \
        epoch loses at most N steps (with --resume: the run's own unless given).
        """, valueName: "N"))
    var saveEvery: Int?

    @Option(help: "Images per batch (each image's captions share one encoder pass).")
    var batchSize = 32

    @Option(help: "Captions of each image per epoch, a different set each epoch in turn (default: all of them).")
    var captionsPerImage: Int?

    @Option(help: "Adam's learning rate.")
    var learningRate = 1e-3

    @Option(help: "Clip the global gradient norm to this (0: no clipping).")
    var gradientClip: Float = 5

    @Option(help: "Dropout before the output layer.")
    var dropout: Float = 0.5

    @Option(help: "Weight λ of the attention penalty.")
    var attentionRegularization: Float = 1

    @Option(help: "Scheduled sampling: probability of feeding the model its own previous word (0: off).")
    var samplingProbability: Float = 0

    @Option(help: "Steps over which the sampling probability rises linearly from 0 (0: constant).")
    var samplingRampSteps = 0

    @Option(help: ArgumentHelp("""
        The learning rate's course: plateau (decay by --lr-decay after --lr-patience epochs without a \
        better validation score) or linear (up over --warmup-steps, then down to zero at the end of \
        --minutes or --epochs, whichever ends first).
        """, valueName: "plateau|linear"))
    var lrSchedule: LearningRateSchedule = .plateau

    @Option(help: "Steps of linear learning-rate warm-up (--lr-schedule linear).")
    var warmupSteps = 0

    @Option(help: "Multiply the learning rate by this after --lr-patience epochs without a better CIDEr-D.")
    var lrDecay = 0.5

    @Option(help: "Epochs without improvement before the learning rate decays.")
    var lrPatience = 2

    @Option(help: "Stop after this many epochs without a better validation score (--select-by).")
    var earlyStoppingPatience = 6

    @Option(help: ArgumentHelp("""
        The validation score that picks best.safetensors, decays the learning rate on a plateau and \
        stops early: cider (CIDEr-D) or content (the share of captions with every object right, \
        CIDEr-D breaking ties; needs ground_truth.jsonl, as glimpse synth writes it).
        """, valueName: "cider|content"))
    var selectBy: SelectionMetric = .ciderD

    @Flag(help: "Give each grid location's features its coordinates, so the attention's context says where it looked.")
    var positionFeatures = false

    @Option(name: .customLong("init"), help: ArgumentHelp("""
        Start from this checkpoint's weights and vocabulary (a fresh optimizer) instead of a random model; \
        the model-shape options are then the checkpoint's.
        """, valueName: "MODEL"))
    var initialModel: String?

    @Flag(help: ArgumentHelp("""
        Self-critical training (fine-tuning, with --init): sample captions, reward each by CIDEr-D against \
        the image's references minus the mean of the image's other samples, step along the policy gradient; \
        the encoder is frozen.
        """))
    var scst = false

    @Option(help: "Captions sampled per image in self-critical training (at least 2).")
    var scstSamples: Int = 5

    @Option(help: ArgumentHelp("""
        Self-critical training: add this weight times the cross-entropy of the batch's reference captions \
        (keeps the references' grammar while the reward is chased; 0: pure policy gradient).
        """, valueName: "gamma"))
    var scstCrossEntropy: Float = 0

    @Option(help: ArgumentHelp("""
        Weight β of the word-detection loss: a head that predicts, from each location's features, \
        which words the image's captions use (0: no head).
        """, valueName: "beta"))
    var wordLoss: Float = 0

    @Option(help: ArgumentHelp("""
        A pretrained ResNet encoder (glimpse import-encoder): frozen, each image's features computed once \
        into the feature cache, only the decoder trained; the input is then torchvision's Resize(S·8/7) and \
        CenterCrop(S), S 224 unless --image-size says otherwise.
        """, valueName: "encoder.safetensors"))
    var encoder: String?

    @Option(help: "With --encoder: the side g of the feature grid the last stage is average-pooled to (P = g² locations).")
    var grid: Int?

    @Option(help: ArgumentHelp("""
        With --encoder (or --init a model trained on one): train its stages from this one on (1 to 4, torchvision's \
        layer1 … layer4) with the decoder; the stages before stay frozen and the cache holds their output instead \
        of the features.
        """, valueName: "stage"))
    var fineTuneFromStage: Int?

    @Option(help: ArgumentHelp("""
        The learning rate of the encoder's stages that train (default 1e-4), moved with --learning-rate by its schedule.
        """, valueName: "rate"))
    var encoderLr: Double?

    @Flag(help: """
        With --fine-tune-from-stage: train on random crops of the images (resized to S·8/7), flipped left to right \
        half the time; the frozen stages then run on every batch instead of being cached.
        """)
    var augment = false

    @Option(help: "Image side S in pixels (a multiple of 2^stages; default 128, or 224 with --encoder).")
    var imageSize: Int?

    @Option(help: ArgumentHelp("Channels of each encoder stage, comma-separated.", valueName: "c1,c2,..."))
    var stageChannels = "32,64,128,256"

    @Option(help: "Word embedding size E.")
    var embeddingSize = 128

    @Option(help: "Attention size A.")
    var attentionSize = 128

    @Option(help: "LSTM hidden size H.")
    var hiddenSize = 256

    @Option(help: """
        Minimum count for a word to enter the vocabulary. When not given: 5, lowered (down to 1) \
        while more than 5% of the training words would be <unk>.
        """)
    var minCount: Int?

    @Option(help: "Captions are cut to this many words.")
    var maxCaptionLength = 50

    @Option(help: "Validation images captioned each epoch (default: the whole validation split).")
    var validationImages: Int?

    @Option(help: "Seed of the initialisation, the batch order, dropout and sampling.")
    var seed: UInt64 = 1

    @Option(help: """
        Cores to use: compute workers (each on single-threaded OpenBLAS), and image-decoding threads \
        (default 2; under mpirun, this machine's cores shared among its ranks).
        """)
    var threads: Int?

    @Flag(name: .customLong("sync-batchnorm"), help: """
        Under mpirun: normalise with the BatchNorm statistics of the whole batch, summed over the ranks \
        (as PyTorch's SyncBatchNorm), instead of each rank's share (the default).
        """)
    var synchronizedBatchNorm = false

    @Option(help: ArgumentHelp("""
        Under mpirun: how long a rank waits for the others in a gradient exchange before it stops the job \
        (a rank stopped, lost or hung).
        """, valueName: "SECONDS"))
    var peerTimeout: Double = 600

    @Option(help: "Folder for decoded images, to share between runs (default RUN_DIR/cache).")
    var cacheDir: String?

    func validate() throws {
        if let problem = try trainingOptions().problem() { throw ValidationError(Self.flagWording(problem)) }
        if runDirectory.isEmpty { throw ValidationError("--out needs a folder.") }
        if !(peerTimeout >= 1 && peerTimeout <= 86_400) {
            throw ValidationError("--peer-timeout must be from 1 to 86400 seconds, got \(peerTimeout).")
        }
    }

    /// 2 alone; under mpirun, this machine's cores shared among the ranks Open MPI put on it.
    static func defaultThreads(environment: [String: String]) -> Int {
        guard case .mpi = ProcessGroup.launch(environment: environment) else { return 2 }
        let local = environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap { Int($0) } ?? 1
        return max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, local))
    }

    /// The library's messages name settings; the CLI's name flags.
    static func flagWording(_ problem: String) -> String {
        let flags = [("epochs", "--epochs"), ("minutes", "--minutes"), ("maximum steps", "--max-steps"),
                     ("images per batch", "--batch-size"), ("captions per image", "--captions-per-image"),
                     ("maximum caption length", "--max-caption-length"), ("learning rate must", "--learning-rate must"),
                     ("gradient clip", "--gradient-clip"), ("scheduled sampling probability", "--sampling-probability"),
                     ("scheduled sampling ramp", "--sampling-ramp-steps"), ("learning-rate decay", "--lr-decay"),
                     ("learning-rate patience", "--lr-patience"), ("warm-up steps", "--warmup-steps"), ("early-stopping patience", "--early-stopping-patience"),
                     ("minimum word count", "--min-count"), ("threads", "--threads"), ("save every", "--save-every"),
                     ("validation images", "--validation-images"), ("self-critical samples", "--scst-samples"),
                     ("self-critical cross-entropy weight", "--scst-cross-entropy"), ("image size must", "--image-size must"),
                     ("stage channels must", "--stage-channels must"), ("embedding size must", "--embedding-size must"),
                     ("attention size must", "--attention-size must"), ("hidden size must", "--hidden-size must")]
        for (phrase, flag) in flags where problem.hasPrefix(phrase) {
            return flag + problem.dropFirst(phrase.count) + "."
        }
        return problem + "."
    }

    func trainingOptions() throws -> TrainingOptions {
        var options = TrainingOptions()
        // A resumed run without --epochs or --minutes keeps the epoch count it was started with.
        options.epochs = epochs ?? (minutes == nil && !resume ? 20 : nil)
        options.minutes = minutes
        options.maximumSteps = maxSteps
        options.imagesPerBatch = batchSize
        options.captionsPerImage = captionsPerImage
        options.maximumCaptionLength = maxCaptionLength
        options.learningRate = learningRate
        options.learningRateSchedule = lrSchedule
        options.warmupSteps = warmupSteps
        if gradientClip < 0 { throw ValidationError("--gradient-clip must be 0 (off) or positive, got \(gradientClip).") }
        options.gradientClip = gradientClip == 0 ? nil : gradientClip
        options.dropout = dropout
        options.attentionRegularization = attentionRegularization
        options.positionFeatures = positionFeatures ? true : nil
        guard wordLoss >= 0 && wordLoss.isFinite else {
            throw ValidationError("--word-loss must be finite and at least 0, got \(wordLoss).")
        }
        options.wordLossWeight = wordLoss > 0 ? wordLoss : nil
        if resume && initialModel != nil {
            throw ValidationError("--init starts a new run from a model; --resume continues the run in --out with its own.")
        }
        if scst && initialModel == nil && !resume {
            throw ValidationError("--scst fine-tunes a trained model: give it with --init MODEL (for example a run's best.safetensors).")
        }
        options.initialModel = initialModel
        options.selfCritical = scst ? true : nil
        options.selfCriticalSamples = scst ? scstSamples : nil
        options.selfCriticalCrossEntropy = scst && scstCrossEntropy != 0 ? scstCrossEntropy : nil
        options.samplingProbability = samplingProbability
        options.samplingRampSteps = samplingRampSteps
        options.learningRateDecay = lrDecay
        options.learningRatePatience = lrPatience
        options.earlyStoppingPatience = earlyStoppingPatience
        // Left out of config.json when it is the default, as in runs made before the option.
        options.selectBy = selectBy == .ciderD ? nil : selectBy
        try applyEncoderOptions(to: &options)
        let channels = stageChannels.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !channels.isEmpty, channels.allSatisfy({ $0 != nil }) else {
            throw ValidationError("--stage-channels must be comma-separated whole numbers, got \"\(stageChannels)\".")
        }
        options.stageChannels = channels.map { $0! }
        options.embeddingSize = embeddingSize
        options.attentionSize = attentionSize
        options.hiddenSize = hiddenSize
        options.setMinimumWordCount(minCount)
        options.seed = seed
        // Left out of config.json when it is the default, as in runs made before it was recorded.
        options.splitSeed = dataset.splitSeed == 0 ? nil : dataset.splitSeed
        options.threads = threads ?? Self.defaultThreads(environment: ProcessInfo.processInfo.environment)
        options.synchronizedBatchNorm = synchronizedBatchNorm ? true : nil
        options.saveEvery = saveEvery
        options.cacheDirectory = cacheDir
        options.validationImages = validationImages
        return options
    }

    /// --encoder and what goes with it: the grid, the stages that train, their rate, augmentation.
    private func applyEncoderOptions(to options: inout TrainingOptions) throws {
        if encoder != nil && initialModel != nil {
            throw ValidationError("--init starts from a model, which already has its encoder; leave out --encoder.")
        }
        if grid != nil && encoder == nil { throw ValidationError("--grid sets a pretrained encoder's grid: give --encoder too.") }
        if let grid, !(1...32).contains(grid) { throw ValidationError("--grid must be from 1 to 32, got \(grid).") }
        if encoder != nil, let imageSize, imageSize < 32 {
            throw ValidationError("--image-size must be at least 32 for a ResNet encoder, got \(imageSize).")
        }
        if fineTuneFromStage != nil && encoder == nil && initialModel == nil {
            throw ValidationError("""
                --fine-tune-from-stage trains a pretrained encoder's last stages: give --encoder too \
                (or --init a model trained on one).
                """)
        }
        if let stage = fineTuneFromStage, !(1...4).contains(stage) {
            throw ValidationError("--fine-tune-from-stage must be from 1 to 4 (layer1 … layer4), got \(stage).")
        }
        if encoderLr != nil && fineTuneFromStage == nil && initialModel == nil {
            throw ValidationError("""
                --encoder-lr sets the rate of the encoder's stages that train: give --fine-tune-from-stage too \
                (or --init a model whose encoder trains).
                """)
        }
        if let encoderLr, !(encoderLr > 0) || !encoderLr.isFinite {
            throw ValidationError("--encoder-lr must be positive, got \(encoderLr).")
        }
        if augment && fineTuneFromStage == nil {
            throw ValidationError("""
                --augment changes the images every epoch, which a frozen encoder's cached features cannot follow: \
                give --fine-tune-from-stage too.
                """)
        }
        options.encoder = encoder
        options.gridSize = grid
        options.imageSize = imageSize ?? (encoder == nil ? 128 : 224)
        options.fineTuneFromStage = fineTuneFromStage
        options.encoderLearningRate = encoderLr
        options.augment = augment ? true : nil
    }

    /// `GLIMPSE_TEST_SAVE_PAUSE=SECONDS`, for the reliability tests only: before each write of a
    /// checkpoint set, say which (`glimpse: test pause before <stage>` on standard error) and
    /// sleep, so that a test can kill the run at that exact moment of the save.
    static func savePauseForTests() -> ((CheckpointSet.Stage) -> Void)? {
        guard let text = ProcessInfo.processInfo.environment["GLIMPSE_TEST_SAVE_PAUSE"],
              let seconds = Double(text), seconds >= 0, seconds <= 60 else { return nil }
        return { stage in
            Terminal.standardError("glimpse: test pause before \(stage.rawValue)")
            Thread.sleep(forTimeInterval: seconds)
        }
    }

    func run() throws {
        let options = try trainingOptions()
        // Alone, or one rank of mpirun -np N: then rank 0 alone prints the run's progress.
        let group: ProcessGroup
        do { group = try ProcessGroup.joining(peerTimeout: peerTimeout) } catch {
            Terminal.standardError("glimpse: \(error)")
            throw ExitCode(1)
        }
        let speaker = group.isDistributed ? "glimpse: rank \(group.rank) of \(group.size)" : "glimpse"
        /// A rank that fails ends the whole job (the others may be waiting for it); alone, it exits.
        func fail(_ message: String) -> ExitCode {
            Terminal.standardError("\(speaker): \(message)")
            if group.isDistributed { group.abort(code: 1) }
            return ExitCode(1)
        }
        // Every rank reads the dataset; they agree on it before anything else, so that none waits
        // for a rank that failed (which says why, or rank 0 alone when all failed alike).
        var loaded: Dataset?, loadError: Error?
        do { loaded = try dataset.load() } catch { loadError = error }
        var failures: [Double] = [loaded == nil ? 1 : 0]
        do { try group.sum(&failures, what: "loading the dataset") } catch { throw fail("\(error)") }
        guard let loaded, failures[0] == 0 else {
            if let loadError, group.isLeader || Int(failures[0]) < group.size { Terminal.standardError("\(speaker): \(loadError)") }
            group.finish()
            throw ExitCode(1)
        }
        if group.isDistributed && group.isLeader {
            let perRank = Double(options.imagesPerBatch) / Double(group.size)
            Terminal.standardError("glimpse: training on \(group.size) ranks started by \(group.launcher): each takes "
                                   + "\(perRank == perRank.rounded() ? String(Int(perRank)) : String(format: "%.1f", perRank)) "
                                   + "of the \(options.imagesPerBatch) images of a batch, \(options.threads) thread"
                                   + "\(options.threads == 1 ? "" : "s") each; rank 0 writes \(runDirectory) and validates")
        }

        // Signals become a flag checked between steps; the default action (dying
        // mid-write) is ignored so the loop can save first.
        let stop = StopSignal.catching([SIGINT, SIGTERM])
        defer { withExtendedLifetime(stop) {} }

        let output = StatusOutput.standardError()
        let printer = TrainingPrinter(output: output)
        let outcome: TrainingOutcome
        do {
            // Whatever ends the run, its last word starts on a line of its own.
            defer { printer.end() }
            var run = TrainingRun(dataset: loaded, runDirectory: runDirectory, options: options, resume: resume)
            run.savePause = Self.savePauseForTests()
            run.processGroup = group
            outcome = try run.run(shouldStop: { stop.requested != nil }, events: group.isLeader ? printer.handle : { _ in })
        } catch TrainingError.allRanksStopping(let error, let everyRank) {
            // Every rank knows of this rank's error: it says why (rank 0 alone when all met one), and they leave together.
            if group.isLeader || !everyRank {
                if case .noUsableTrainingImages(let root, let report) = error {
                    for line in report { print(line) }
                    Terminal.standardError("\(speaker): no usable training image in \(root)")
                } else if case .invalidOptions(let problem) = error {
                    Terminal.standardError("\(speaker): \(Self.flagWording(problem))")
                } else {
                    Terminal.standardError("\(speaker): \(error)")
                }
            }
            group.finish()
            throw ExitCode(1)
        } catch TrainingError.noUsableTrainingImages(let root, let report) {
            if group.isLeader { for line in report { print(line) } }
            throw fail("no usable training image in \(root)")
        } catch TrainingError.distributed(.peerFailed(let phase)) {
            // The rank that failed said why; this one leaves quietly with the rest.
            if group.isLeader { Terminal.standardError("\(speaker): \(DistributedError.peerFailed(phase: phase))") }
            group.finish()
            throw ExitCode(1)
        } catch {
            throw fail("\(error)")
        }
        // Every rank reached the same outcome: they leave together, and rank 0 says how it ended.
        group.finish()
        guard group.isLeader else {
            if case .interrupted = outcome { throw ExitCode(128 + (stop.requested ?? SIGINT)) }
            if case .nonFiniteLoss = outcome { throw ExitCode(1) }
            return
        }
        switch outcome {
        case .completed(let epochs):
            Terminal.standardError("glimpse: trained \(epochs) epoch\(epochs == 1 ? "" : "s"); best model \(runDirectory)/best.safetensors")
        case .stoppedEarly(let epoch, let patience, let metric):
            Terminal.standardError("glimpse: stopped early after epoch \(epoch) (no better \(metric.name) for \(patience) "
                                   + "epoch\(patience == 1 ? "" : "s")); best model \(runDirectory)/best.safetensors")
        case .alreadyFinished:
            Terminal.standardError("glimpse: the run in \(runDirectory) has already finished")
        case .timeBudgetReached(let step), .stepLimitReached(let step):
            Terminal.standardError("glimpse: stopped at step \(step); saved \(runDirectory)/last.safetensors (continue with --resume)")
        case .interrupted(let step):
            let number = stop.requested ?? SIGINT
            if FileManager.default.fileExists(atPath: runDirectory + "/last.safetensors") {
                Terminal.standardError("glimpse: interrupted at step \(step); saved \(runDirectory)/last.safetensors (continue with --resume)")
            } else {
                // Stopped while the cache filled, before any checkpoint: nothing to resume from.
                Terminal.standardError("glimpse: interrupted before the first step, so no checkpoint yet; "
                                       + "the same command starts the run again (the images cached so far are kept)")
            }
            throw ExitCode(128 + number)
        case .nonFiniteLoss(let step, let epoch, let loss, let norm):
            let last = runDirectory + "/last.safetensors"
            let kept = FileManager.default.fileExists(atPath: last)
                ? "\(last) is the last good checkpoint"
                : "no checkpoint was saved before it (\(last) does not exist)"
            Terminal.standardError("glimpse: training diverged at step \(step) (epoch \(epoch)): loss \(loss), gradient norm \(norm); "
                                   + "stopped without saving; \(kept) (try a lower --learning-rate or --gradient-clip)")
            throw ExitCode(1)
        }
    }
}

/// Turns training events into a status line (a bar redrawn in place on a terminal, plain lines
/// otherwise) and messages, on standard error.
final class TrainingPrinter {
    private let output: StatusOutput
    private var cacheBar: ProgressReporter?
    private var horizon: TrainingHorizon?
    private var epoch = 0
    /// When this invocation's first step ended, and the run's step count then: the pace of the
    /// run (validation included) is measured from there.
    private var firstStep: (time: Date, step: Int)?
    /// The epoch's steps seen (its part in this invocation, when resumed inside it), since when,
    /// and their sums, for the epoch's means.
    private var epochSteps = 0
    private var epochStart = Date()
    private var crossEntropySum = 0.0, rewardSum = 0.0
    /// Single batches are noisy: the status shows means of the recent ones.
    private var recentCrossEntropy = RecentMean(), recentReward = RecentMean()
    /// Whether the cache being filled holds a pretrained encoder's features.
    private var encodingFeatures = false
    /// The last step, when updates came too fast to show it.
    private var undrawn: (record: LogRecord, batch: Int, steps: Int)?

    init(output: StatusOutput = .standardError()) {
        self.output = output
    }

    /// Ends the status line, brought up to the last step, so that what follows (the run's last
    /// word) starts on a new line.
    func end() {
        if let undrawn { showStep(undrawn.record, batch: undrawn.batch, steps: undrawn.steps, force: true) }
        output.endStatus()
    }

    func handle(_ event: TrainingEvent) {
        switch event {
        case .inspected(let inspection):
            printInspection(inspection)
        case .vocabularyDecided(let decision):
            // The same decision `glimpse inspect` reports (also in config.json, minimumWordCount).
            output.line("vocabulary: kept " + decision.summary)
            if let reason = decision.reasonText { output.line("  " + reason) }
        case .vocabularyKept(let size, let source):
            output.line("vocabulary: \(size) tokens, those of \(PlainText.escapedPath(source))")
        case .resumed(let position, let step, let folder):
            output.line("resuming from \(PlainText.escapedPath(folder)) at epoch \(position.epoch + 1), "
                        + "batch \(position.batchIndex + 1) (step \(step))")
        case .skippedCheckpointSet(let folder, let reason):
            output.line("glimpse: not resuming from \(PlainText.escapedPath(folder)): \(reason)")
        case .caching(let done, let total):
            if cacheBar == nil { cacheBar = ProgressReporter("decoding images", total: total, unit: "images", output: output) }
            cacheBar?.update(done)
        case .cacheOpened(let features, _):
            encodingFeatures = features
        case .encoding(let done, let total):
            if cacheBar == nil { cacheBar = ProgressReporter("encoding images", total: total, unit: "images", output: output) }
            cacheBar?.update(done)
        case .cached(let decoded, let reused, let failures):
            finishCaching(decoded: decoded, reused: reused, failures: failures)
        case .epochStarted(let epoch, _, let horizon):
            self.epoch = epoch
            self.horizon = horizon
            (epochSteps, epochStart, crossEntropySum, rewardSum) = (0, Date(), 0, 0)
            (recentCrossEntropy, recentReward) = (RecentMean(), RecentMean())
        case .step(let record, let batch, let steps):
            countStep(record, batch: batch, steps: steps)
        case .validated(let record):
            undrawn = nil
            printEpochEnd()
            printValidation(record)
        case .learningRateDecayed(let rate):
            output.line("learning rate lowered to \(rate)")
        case .featureSummaryFailed(let failure):
            output.line("glimpse: warning: best.safetensors saved without a feature summary (\(failure)): "
                        + "caption will not flag images unlike the training images")
        }
    }

    /// The dataset's image counts and the first unusable images.
    private func printInspection(_ inspection: DatasetInspection) {
        let train = inspection.splits[.train]?.images ?? 0
        let validation = inspection.splits[.validation]?.images ?? 0
        output.line("dataset: \(inspection.root) (\(inspection.format)): \(Plural.counted(train, "training image")), "
                               + "\(Plural.counted(validation, "validation image"))")
        // Test images are not train's concern.
        for warning in inspection.warnings(about: [.train, .validation]) {
            output.line("glimpse: warning: " + warning)
        }
        if !inspection.unusableImages.isEmpty {
            output.line("image files missing or unreadable (skipped): \(inspection.unusableImages.count)")
            for item in inspection.unusableImages.prefix(20) { output.line("  \(item.path): \(item.reason)") }
        }
    }

    /// Closes the cache bar; the images reused and the first that could not be decoded.
    private func finishCaching(decoded: Int, reused: Int, failures: [ImageCache.Failure]) {
        let (made, cache) = encodingFeatures ? ("encoded into the feature cache", "feature cache") : ("decoded into the cache", "image cache")
        if decoded > 0 { cacheBar?.finish("\(Plural.counted(decoded, "image")) \(made)") }
        cacheBar = nil
        if reused > 0 { output.line("\(cache): \(Plural.counted(reused, "image")) already \(encodingFeatures ? "encoded" : "decoded")") }
        if !failures.isEmpty {
            output.line("images that could not be decoded (skipped): \(failures.count)")
            for failure in failures.prefix(20) { output.line("  \(failure)") }
            if failures.count > 20 { output.line("  ... and \(failures.count - 20) more") }
        }
    }

    /// A step into the epoch's sums and recent means, then the status.
    private func countStep(_ record: LogRecord, batch: Int, steps: Int) {
        if firstStep == nil { firstStep = (Date(), record.step) }
        epochSteps += 1
        if let reward = record.reward {
            rewardSum += reward
            recentReward.add(reward)
        } else if let crossEntropy = record.crossEntropy {
            crossEntropySum += Double(crossEntropy)
            recentCrossEntropy.add(Double(crossEntropy))
        }
        // The epoch's first and last steps always show.
        showStep(record, batch: batch, steps: steps, force: epochSteps == 1 || batch >= steps)
    }

    /// The status after a step, when one is due (or `force`): the epoch of the run's epochs, the
    /// recent cross-entropy (or reward), the run's ETA, the time budget and the pace.
    private func showStep(_ record: LogRecord, batch: Int, steps: Int, force: Bool) {
        undrawn = (record, batch, steps)
        guard let horizon, output.isDue(force: force) else { return }
        undrawn = nil
        let now = Date()
        let elapsed = now.timeIntervalSince(horizon.started)
        let secondsPerStep = firstStep.flatMap { first in
            record.step > first.step ? now.timeIntervalSince(first.time) / Double(record.step - first.step) : nil
        }
        let status = TrainingStatus(
            epoch: epoch, epochs: horizon.epochs, batch: batch, steps: steps, crossEntropy: recentCrossEntropy.value.map(Float.init),
            reward: recentReward.value, imagesPerSecond: record.imagesPerSecond, elapsed: elapsed, timeBudget: horizon.timeBudget,
            remaining: TrainingStatus.remaining(horizon, epoch: epoch, batch: batch, step: record.step,
                                                secondsPerStep: secondsPerStep, elapsed: elapsed))
        output.status(status.text(bar: output.interactive, columns: output.columns()))
    }

    /// The epoch's steps (in this invocation), their time and mean cross-entropy (or reward), in
    /// place of its status line.
    private func printEpochEnd() {
        guard epochSteps > 0 else { return }
        var line = "epoch \(epoch)" + (horizon?.epochs.map { " of \($0)" } ?? "")
        line += ": \(epochSteps) step\(epochSteps == 1 ? "" : "s") in \(ProgressReporter.clock(Date().timeIntervalSince(epochStart)))"
        if recentReward.value != nil {
            line += String(format: ", mean reward (CIDEr-D) %.3f", rewardSum / Double(epochSteps))
        } else if recentCrossEntropy.value != nil {
            line += String(format: ", mean cross-entropy %.3f", crossEntropySum / Double(epochSteps))
        }
        output.line(line)
        epochSteps = 0
    }

    /// The epoch's line: validation scores, or the mean training loss when there are no
    /// validation images.
    private func printValidation(_ record: LogRecord) {
        var line = "epoch \(record.epoch): "
        if let bleu4 = record.bleu4, let cider = record.ciderD {
            line += String(format: "validation BLEU-4 %.4f, CIDEr-D %.4f on ", bleu4, cider)
                + Plural.counted(record.validationImages ?? 0, "image")
            if let content = record.content { line += "; " + content.text }
        } else if let loss = record.loss {
            line += String(format: "mean training loss %.4f (no validation images)", loss)
        }
        if record.best == true { line += " (best so far, saved)" }
        output.line(line)
    }
}

extension LearningRateSchedule: ExpressibleByArgument {}

extension SelectionMetric: ExpressibleByArgument {}
