import GlimpseTraining
import Testing

/// Every integer training option at both ends of its range is accepted, and one step beyond
/// either end (or Int.max) is refused with the option's name, before any work.
@Suite("Training option limits")
struct OptionLimitsTests {
    struct Bound: Sendable, CustomStringConvertible {
        var name: String
        var lowest: Int
        var highest: Int?
        var set: @Sendable (inout TrainingOptions, Int) -> Void
        var description: String { name }
    }

    static let bounds: [Bound] = [
        Bound(name: "epochs", lowest: 1, highest: TrainingOptions.Limits.epochs) { $0.epochs = $1 },
        Bound(name: "images per batch", lowest: 1, highest: TrainingOptions.Limits.imagesPerBatch) { $0.imagesPerBatch = $1 },
        Bound(name: "captions per image", lowest: 1, highest: TrainingOptions.Limits.captionsPerImage) { $0.captionsPerImage = $1 },
        Bound(name: "maximum caption length", lowest: 1, highest: TrainingOptions.Limits.captionLength) { $0.maximumCaptionLength = $1 },
        Bound(name: "threads", lowest: 1, highest: TrainingOptions.Limits.threads) { $0.threads = $1 },
        Bound(name: "self-critical samples", lowest: 2, highest: TrainingOptions.Limits.selfCriticalSamples) { $0.selfCriticalSamples = $1 },
        Bound(name: "embedding size", lowest: 1, highest: TrainingOptions.Limits.layerSize) { $0.embeddingSize = $1 },
        Bound(name: "attention size", lowest: 1, highest: TrainingOptions.Limits.layerSize) { $0.attentionSize = $1 },
        Bound(name: "hidden size", lowest: 1, highest: TrainingOptions.Limits.layerSize) { $0.hiddenSize = $1 },
        Bound(name: "stage channels", lowest: 1, highest: TrainingOptions.Limits.channels) { $0.stageChannels = [$1, 8] },
        Bound(name: "maximum steps", lowest: 0, highest: nil) { $0.maximumSteps = $1 },
        Bound(name: "warm-up steps", lowest: 0, highest: nil) { $0.warmupSteps = $1 },
        Bound(name: "scheduled sampling ramp", lowest: 0, highest: nil) { $0.samplingRampSteps = $1 },
        Bound(name: "learning-rate patience", lowest: 1, highest: nil) { $0.learningRatePatience = $1 },
        Bound(name: "early-stopping patience", lowest: 1, highest: nil) { $0.earlyStoppingPatience = $1 },
        Bound(name: "minimum word count", lowest: 1, highest: nil) { $0.minimumWordCount = $1 },
        Bound(name: "validation images", lowest: 0, highest: nil) { $0.validationImages = $1 },
        Bound(name: "validation batch size", lowest: 1, highest: nil) { $0.validationBatchSize = $1 },
        Bound(name: "save every", lowest: 1, highest: nil) { $0.saveEvery = $1 },
    ]

    static func options() -> TrainingOptions {
        var options = TrainingOptions()
        options.imageSize = 32
        options.stageChannels = [4, 8]
        return options
    }

    @Test("at the limits accepted, beyond them refused by name", arguments: bounds)
    func limits(bound: Bound) {
        var options = Self.options()
        bound.set(&options, bound.lowest)
        #expect(options.problem() == nil, "\(bound.name) = \(bound.lowest): \(options.problem() ?? "")")
        options = Self.options()
        bound.set(&options, bound.lowest - 1)
        #expect(options.problem()?.contains(bound.name) == true, "\(bound.name) = \(bound.lowest - 1): \(options.problem() ?? "accepted")")
        options = Self.options()
        bound.set(&options, bound.highest ?? Int.max)
        #expect(options.problem() == nil, "\(bound.name) at its top: \(options.problem() ?? "")")
        if let highest = bound.highest {
            for beyond in [highest + 1, Int.max] {
                options = Self.options()
                bound.set(&options, beyond)
                #expect(options.problem()?.contains(bound.name) == true, "\(bound.name) = \(beyond): \(options.problem() ?? "accepted")")
            }
        }
    }

    @Test("image size: 2048 accepted with a fitting encoder, 2049 and Int.max refused")
    func imageSize() {
        var options = Self.options()
        options.imageSize = TrainingOptions.Limits.imageSize
        #expect(options.problem() == nil, "\(options.problem() ?? "")")
        for beyond in [TrainingOptions.Limits.imageSize + 1, Int.max] {
            options.imageSize = beyond
            #expect(options.problem()?.contains("image size must be at most 2048") == true, "\(options.problem() ?? "accepted")")
        }
        options = Self.options()
        options.stageChannels = Array(repeating: 4, count: TrainingOptions.Limits.stages + 1)
        #expect(options.problem()?.contains("at most 8 stages") == true)
    }
}
