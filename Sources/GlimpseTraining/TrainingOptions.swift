import GlimpseImage
import GlimpseModel
import GlimpseText

/// What decides which validation is best (`best.safetensors`), a plateau (learning-rate
/// decay) and early stopping.
public enum SelectionMetric: String, Codable, Sendable, CaseIterable {
    /// CIDEr-D of the greedy validation captions (the default).
    case ciderD = "cider"
    /// The share of validation captions with every object exactly right (`ContentEvaluator`),
    /// CIDEr-D breaking ties; needs ground truth for the validation images.
    case content

    /// The score in words, for messages.
    public var name: String {
        switch self {
        case .ciderD: "CIDEr-D"
        case .content: "the share of captions with every object right"
        }
    }
}

/// How the learning rate moves over a run.
public enum LearningRateSchedule: String, Codable, Sendable, CaseIterable {
    /// Constant, multiplied by `learningRateDecay` after `learningRatePatience` epochs without a
    /// better validation score (the default).
    case plateau
    /// Up linearly over `warmupSteps`, then down linearly to zero at the end of the run's horizon:
    /// its time budget (`minutes`, of this invocation) or its last epoch, whichever ends first.
    /// The rule of "budgeted training" (Li, Yumer and Ramanan, ICLR 2020): a run that knows its
    /// length spends it, rather than waiting for plateaus a short run never reaches.
    case linear
}

/// Everything that decides a training run besides the data. Written to
/// `RUN_DIR/config.json`; a resumed run reads it back, so the run continues with the
/// settings it started with (only the stopping conditions and threads may change).
public struct TrainingOptions: Codable, Sendable, Equatable {
    // MARK: Stopping
    /// Epochs to train; nil: until the time budget or early stopping ends the run.
    public var epochs: Int? = 20
    /// Wall-clock budget of this invocation, in minutes; nil: none.
    public var minutes: Double? = nil
    /// Stop (saving `last` exactly as for an interruption) once the optimizer has taken
    /// this many steps in total. For tests and measurements.
    public var maximumSteps: Int? = nil

    // MARK: Batches
    /// N: images per batch; each image's captions share one encoder pass.
    public var imagesPerBatch = 32
    /// k captions of each image per epoch, a different k each epoch in turn (epoch e takes
    /// captions e·k, e·k + 1, … modulo the image's count); nil: all of them every epoch.
    public var captionsPerImage: Int? = nil
    /// Captions longer than this many words are cut.
    public var maximumCaptionLength = 50

    // MARK: Optimisation
    public var learningRate = 1e-3
    /// Global gradient-norm clip; nil: none.
    public var gradientClip: Float? = 5
    /// Scheduled sampling: the final probability of feeding the model its own word…
    public var samplingProbability: Float = 0
    /// …reached linearly over this many steps (0: constant from the first step).
    public var samplingRampSteps = 0
    /// The rate's course; nil: `.plateau` (optional so that older config.json files still read).
    public var learningRateSchedule: LearningRateSchedule? = nil
    /// Steps of linear warm-up under `.linear`; nil: none.
    public var warmupSteps: Int? = nil
    /// On a validation plateau of `learningRatePatience` epochs, the rate is multiplied by this
    /// (`.plateau` only).
    public var learningRateDecay = 0.5
    public var learningRatePatience = 2
    /// Stop after this many epochs without a better validation score (see `selectBy`).
    public var earlyStoppingPatience = 6
    /// The validation score that picks `best`, counts plateaus and stops early; nil: CIDEr-D.
    /// Optional so that the config.json of runs made before it was added still reads.
    public var selectBy: SelectionMetric? = nil

    // MARK: Model
    public var imageSize = 128
    public var stageChannels = [32, 64, 128, 256]
    public var embeddingSize = 128
    public var attentionSize = 128
    public var hiddenSize = 256
    public var dropout: Float = 0.5
    public var attentionRegularization: Float = 1
    /// `ModelConfiguration.positionFeatures`; nil: off (optional so that older config.json files still read).
    public var positionFeatures: Bool? = nil
    /// `ModelConfiguration.wordLossWeight` (β of the word-detection loss); nil: 0, no head.
    public var wordLossWeight: Float? = nil
    /// A pretrained ResNet encoder file (`glimpse import-encoder`): frozen, its features
    /// computed once into the feature cache, only the decoder trained; `stageChannels` unused.
    /// nil: the small CNN, trained from scratch with the decoder.
    public var encoder: String? = nil
    /// g, the pretrained encoder's grid side (its last stage average-pooled to g × g); nil: 7.
    public var gridSize: Int? = nil
    /// With `encoder` (or an `initialModel` that has one): the first of its stages (1 … 4,
    /// torchvision's `layer1` … `layer4`) that trains with the decoder, it and every later one. The
    /// stages before stay frozen, and the cache then holds their output instead of the features.
    /// nil: the whole encoder frozen (or as the initial model has it).
    public var fineTuneFromStage: Int? = nil
    /// The learning rate of the encoder's stages that train; nil: `defaultEncoderLearningRate`.
    /// It follows the schedule and the decays of `learningRate` in proportion.
    public var encoderLearningRate: Double? = nil
    /// With `fineTuneFromStage`: each training batch sees random S × S crops of the images
    /// resized to ⌊S·8/7⌋ (`augmentationSource`), flipped left to right half the time (validation
    /// sees the centre crop, the model's own input). A frozen encoder's cached features cannot follow such changes, so
    /// it needs stages that train. nil: off.
    public var augment: Bool? = nil
    /// Start from this checkpoint's weights and vocabulary (a fresh optimizer) instead of a
    /// random model; the model options above are then the checkpoint's.
    public var initialModel: String? = nil
    /// Self-critical training (`SelfCritical`): sampled captions rewarded by CIDEr-D against the
    /// image's training references, the encoder frozen. nil: off (cross-entropy).
    public var selfCritical: Bool? = nil
    /// K, the captions sampled per image in self-critical training (nil: 5).
    public var selfCriticalSamples: Int? = nil
    /// γ: weight of the references' cross-entropy added to the self-critical loss (nil: 0).
    public var selfCriticalCrossEntropy: Float? = nil
    /// The longest sampled caption, in words.
    public var selfCriticalMaximumLength = 20

    // MARK: Vocabulary (see `vocabularyRule`)
    /// Words seen fewer times in the training captions become `<unk>`.
    public var minimumWordCount = VocabularyRule.defaultMinimumCount
    /// Lower `minimumWordCount` (down to 1) while more than `maximumUnknownRate` of the
    /// training words would be `<unk>`: a small dataset would otherwise be left with a
    /// vocabulary of a handful of words. Off when the user chose the count explicitly.
    public var adaptMinimumWordCount = true
    public var maximumUnknownRate = VocabularyRule.defaultMaximumUnknownRate

    // MARK: Run
    public var seed: UInt64 = 1
    /// The seed of the 90/5/5 split of a dataset without splits of its own (`--split-seed`),
    /// recorded so that `glimpse report` shows the run's own validation images; nil: 0 (also
    /// in runs made before it was recorded).
    public var splitSeed: UInt64? = nil
    /// Cores: compute workers (`Parallel.use(cores:)`), and threads decoding images into the cache.
    public var threads = 2
    /// Also save `last` every this many optimizer steps (counted over the run), not only at each
    /// epoch's end, so that a kill inside a long epoch loses at most that many steps; nil: at
    /// epoch ends (and stops) only. Like `threads`, it changes no result, and `--resume` may set it.
    public var saveEvery: Int? = nil
    /// In a data-parallel run, BatchNorm normalises with the statistics of the whole batch, summed
    /// over the ranks (as PyTorch's SyncBatchNorm), instead of each rank's own share (the default, as
    /// DistributedDataParallel); the running statistics are then the same on every rank. Set per
    /// invocation (`--resume` may change it); one process ignores it.
    public var synchronizedBatchNorm: Bool? = nil
    /// Where decoded images are kept; nil: `RUN_DIR/cache`.
    public var cacheDirectory: String? = nil
    /// Validation images captioned per epoch (the first ones of the split); nil: all.
    public var validationImages: Int? = nil
    /// Images captioned together during validation.
    public var validationBatchSize = 32

    public init() {}

    /// The validation score a run follows.
    public var selectionMetric: SelectionMetric { selectBy ?? .ciderD }

    /// The schedule in force.
    public var schedule: LearningRateSchedule { learningRateSchedule ?? .plateau }

    /// The learning rate of the next step under `.linear`: `learningRate` scaled by the warm-up
    /// (`step` of `warmupSteps`, counting from 0) and by the share of the horizon still ahead
    /// (`done`, 0 to 1). Under `.plateau`, nil: the optimizer's rate stands.
    public func scheduledLearningRate(step: Int, done: Double) -> Double? {
        guard schedule == .linear else { return nil }
        let warmup = warmupSteps.map { $0 > 0 ? min(1, Double(step + 1) / Double($0)) : 1 } ?? 1
        return learningRate * warmup * max(0, 1 - done)
    }

    /// The scheduled-sampling rule these options describe.
    public var scheduledSampling: ScheduledSampling {
        guard samplingProbability > 0 else { return .off }
        return samplingRampSteps > 0
            ? .linear(start: 0, end: samplingProbability, steps: samplingRampSteps)
            : .constant(samplingProbability)
    }

    /// The model configuration for a vocabulary of `vocabularySize` tokens, on `pretrained`
    /// (the encoder file's architecture and digest at `gridSize`) or on the small CNN.
    public func modelConfiguration(vocabularySize: Int, pretrained: ModelConfiguration.PretrainedEncoder? = nil)
        throws(ModelConfigurationError) -> ModelConfiguration {
        try ModelConfiguration(vocabularySize: vocabularySize, imageSize: imageSize,
                               stageChannels: pretrained == nil ? stageChannels : [],
                               embeddingSize: embeddingSize, attentionSize: attentionSize, hiddenSize: hiddenSize,
                               dropout: dropout, attentionRegularization: attentionRegularization,
                               positionFeatures: positionFeatures ?? false, wordLossWeight: wordLossWeight ?? 0,
                               pretrainedEncoder: pretrained)
    }

    /// sgrvinod's encoder_lr for fine-tuning a ResNet under a captioning decoder.
    public static let defaultEncoderLearningRate = 1e-4

    /// Adam's parameter groups for `model`: its encoder's stages that train (`--fine-tune-from-stage`,
    /// or a model started from with `--init` that has them) at `encoderLearningRate`.
    public func learningRateScales(for model: CaptioningModel) -> [String: Double] {
        guard model.encoderTail != nil else { return [:] }
        return [CaptioningModel.pretrainedEncoderPrefix: (encoderLearningRate ?? Self.defaultEncoderLearningRate) / learningRate]
    }

    /// Whether training batches are augmented (`augment`).
    public var augments: Bool { augment ?? false }

    /// What an augmenting run caches of each image: resized as the model's input is (short side
    /// R = ⌊S·8/7⌋), centre-cropped to R' ≤ R with R' − S a multiple of 4, so that every S × S crop
    /// is at hand and the centre one is exactly the model's own (Python's half-to-even rounding of
    /// the crop's origin is kept by adding (R' − S)/2 only when that is even). R' = R = 256 at S = 224.
    public var augmentationSource: Preprocessing {
        let side = imageSize * 8 / 7
        return Preprocessing(imageSize: imageSize + (side - imageSize) / 4 * 4, resizeShortSide: side)
    }

    /// The input a new model gets: the whole image squashed to S × S for the small CNN;
    /// torchvision's Resize(⌊S·8/7⌋) + CenterCrop(S) (256 and 224) for a pretrained encoder,
    /// as it was trained on ImageNet.
    public var preprocessing: Preprocessing {
        Preprocessing(imageSize: imageSize, resizeShortSide: encoder == nil ? nil : imageSize * 8 / 7)
    }

    /// Upper bounds of the options that size the work, the model or the image cache: past
    /// them a run would only exhaust memory or disk (or overflow), so they are refused first.
    public enum Limits {
        public static let threads = 256
        public static let imagesPerBatch = 4096
        public static let imageSize = 2048
        public static let stages = 8
        public static let channels = 8192
        /// E, A and H.
        public static let layerSize = 16384
        public static let captionLength = 1000
        public static let captionsPerImage = 1000
        public static let selfCriticalSamples = 100
        public static let epochs = 1_000_000
        /// Tokens of a vocabulary built by training, specials included: the most frequent words
        /// are kept, the rest become `<unk>` (a caption of 200 000 distinct words would otherwise
        /// make a 200 046-token output layer).
        public static let vocabularySize = 50_000
    }

    /// How a fresh run builds its vocabulary from the training captions (`glimpse inspect`
    /// reports the same decision).
    public var vocabularyRule: VocabularyRule {
        VocabularyRule(minimumCount: minimumWordCount, lowersMinimumCount: adaptMinimumWordCount,
                       maximumUnknownRate: maximumUnknownRate, maximumSize: Limits.vocabularySize)
    }

    /// The vocabulary options for a minimum count given by the user, or nil for the default
    /// (which is lowered on small datasets: `adaptMinimumWordCount`).
    public mutating func setMinimumWordCount(_ count: Int?) {
        minimumWordCount = count ?? VocabularyRule.defaultMinimumCount
        adaptMinimumWordCount = count == nil
    }

    /// The first problem with these options, in words, or nil. The CLI's validate()
    /// reports the same rules with flag names.
    public func problem() -> String? {
        // Groups in this order: the first problem found is the one reported.
        if let problem = limitProblem() ?? sizeProblem() ?? learningProblem() ?? settingsProblem() ?? encoderProblem() {
            return problem
        }
        do {
            _ = try modelConfiguration(vocabularySize: 4)
        } catch {
            return error.description
        }
        return nil
    }

    /// A value above its `Limits` maximum.
    private func limitProblem() -> String? {
        if let epochs, epochs > Limits.epochs { return "epochs must be at most \(Limits.epochs), got \(epochs)" }
        if imagesPerBatch > Limits.imagesPerBatch {
            return "images per batch must be at most \(Limits.imagesPerBatch), got \(imagesPerBatch)"
        }
        if let captionsPerImage, captionsPerImage > Limits.captionsPerImage {
            return "captions per image must be at most \(Limits.captionsPerImage), got \(captionsPerImage)"
        }
        if maximumCaptionLength > Limits.captionLength {
            return "maximum caption length must be at most \(Limits.captionLength), got \(maximumCaptionLength)"
        }
        if threads > Limits.threads { return "threads must be at most \(Limits.threads), got \(threads)" }
        if let selfCriticalSamples, selfCriticalSamples > Limits.selfCriticalSamples {
            return "self-critical samples must be at most \(Limits.selfCriticalSamples), got \(selfCriticalSamples)"
        }
        if imageSize > Limits.imageSize { return "image size must be at most \(Limits.imageSize), got \(imageSize)" }
        if stageChannels.count > Limits.stages {
            return "stage channels must list at most \(Limits.stages) stages, got \(stageChannels.count)"
        }
        if let large = stageChannels.first(where: { $0 > Limits.channels }) {
            return "stage channels must be at most \(Limits.channels) each, got \(large)"
        }
        for (name, value) in [("embedding size", embeddingSize), ("attention size", attentionSize), ("hidden size", hiddenSize)]
            where value > Limits.layerSize {
            return "\(name) must be at most \(Limits.layerSize), got \(value)"
        }
        return nil
    }

    /// A size, count, length or duration below its minimum.
    private func sizeProblem() -> String? {
        for (name, value) in [("embedding size", embeddingSize), ("attention size", attentionSize), ("hidden size", hiddenSize)]
            where value < 1 {
            return "\(name) must be at least 1, got \(value)"
        }
        if let small = stageChannels.first(where: { $0 < 1 }) { return "stage channels must be at least 1 each, got \(small)" }
        if let epochs, epochs < 1 { return "epochs must be at least 1, got \(epochs)" }
        if let minutes, !(minutes > 0) { return "minutes must be positive, got \(minutes)" }
        if let maximumSteps, maximumSteps < 0 { return "maximum steps must not be negative, got \(maximumSteps)" }
        if imagesPerBatch < 1 { return "images per batch must be at least 1, got \(imagesPerBatch)" }
        if let captionsPerImage, captionsPerImage < 1 { return "captions per image must be at least 1, got \(captionsPerImage)" }
        if maximumCaptionLength < 1 { return "maximum caption length must be at least 1, got \(maximumCaptionLength)" }
        return nil
    }

    /// The learning rate and its schedule, gradient clipping, scheduled sampling and early stopping.
    private func learningProblem() -> String? {
        if !(learningRate > 0) || !learningRate.isFinite { return "learning rate must be positive, got \(learningRate)" }
        if let warmupSteps, warmupSteps < 0 { return "warm-up steps must not be negative, got \(warmupSteps)" }
        if let gradientClip, !(gradientClip > 0) { return "gradient clip must be positive, got \(gradientClip)" }
        if !(samplingProbability >= 0 && samplingProbability <= 1) {
            return "scheduled sampling probability must be in [0, 1], got \(samplingProbability)"
        }
        if samplingRampSteps < 0 { return "scheduled sampling ramp must not be negative, got \(samplingRampSteps)" }
        if !(learningRateDecay > 0 && learningRateDecay <= 1) { return "learning-rate decay must be in (0, 1], got \(learningRateDecay)" }
        if learningRatePatience < 1 { return "learning-rate patience must be at least 1, got \(learningRatePatience)" }
        if earlyStoppingPatience < 1 { return "early-stopping patience must be at least 1, got \(earlyStoppingPatience)" }
        return nil
    }

    /// Fine-tuning the pretrained encoder and augmentation.
    private func encoderProblem() -> String? {
        if let stage = fineTuneFromStage {
            if encoder == nil && initialModel == nil {
                return "fine-tuning from a stage trains a pretrained encoder's last stages: it needs an encoder, or a model with one"
            }
            if !(1...4).contains(stage) { return "a ResNet's stages are 1 to 4 (layer1 … layer4), got \(stage)" }
            if selfCritical == true { return "self-critical training keeps the encoder frozen: leave out fine-tuning" }
        } else {
            if encoderLearningRate != nil && initialModel == nil {
                return "an encoder learning rate needs stages that train (fine-tuning from a stage)"
            }
            if augments {
                return "augmentation changes the images every epoch, which a frozen encoder's cached features cannot follow: "
                    + "it needs stages that train (fine-tuning from a stage)"
            }
        }
        if let rate = encoderLearningRate, !(rate > 0) || !rate.isFinite { return "encoder learning rate must be positive, got \(rate)" }
        return nil
    }

    /// The vocabulary, threads, self-critical training and validation.
    private func settingsProblem() -> String? {
        if minimumWordCount < 1 { return "minimum word count must be at least 1, got \(minimumWordCount)" }
        if threads < 1 { return "threads must be at least 1, got \(threads)" }
        if let saveEvery, saveEvery < 1 { return "save every must be at least 1 (optimizer steps), got \(saveEvery)" }
        if let selfCriticalSamples, selfCriticalSamples < 2 {
            return "self-critical samples must be at least 2 (each caption's baseline is the others' mean), got \(selfCriticalSamples)"
        }
        if let selfCriticalCrossEntropy, !(selfCriticalCrossEntropy >= 0 && selfCriticalCrossEntropy.isFinite) {
            return "self-critical cross-entropy weight must be finite and at least 0, got \(selfCriticalCrossEntropy)"
        }
        if selfCriticalMaximumLength < 1 { return "self-critical maximum length must be at least 1, got \(selfCriticalMaximumLength)" }
        if let validationImages, validationImages < 0 { return "validation images must not be negative, got \(validationImages)" }
        if validationBatchSize < 1 { return "validation batch size must be at least 1, got \(validationBatchSize)" }
        return nil
    }
}
