import Dispatch
import Foundation
import GlimpseImage
import GlimpseSupport
import GlimpseText

/// What training would use from a dataset: `glimpse inspect` prints it, and
/// `glimpse train` runs the same checks first.
public struct DatasetInspection: Sendable {
    public struct SplitSummary: Sendable, Equatable {
        public var images = 0
        public var captions = 0
        /// Images whose file is missing or cannot be read.
        public var unusableImages = 0
    }

    public var format: DatasetFormat
    public var root: String
    public var captionSource: String
    public var hasOwnSplits: Bool
    public var splits: [DatasetSplit: SplitSummary]
    /// Fewest, mean and most captions per image.
    public var captionsPerImage: (minimum: Int, mean: Double, maximum: Int)
    /// Image files that are missing or that do not decode, with the reason.
    public var unusableImages: [(path: String, reason: String)]
    /// Rows skipped while reading (malformed rows, empty captions dropped, ...).
    public var problems: [DatasetProblem]
    /// Caption lengths in words (CaptionTokenizer), counted per length.
    public var lengthCounts: [Int: Int]
    /// The vocabulary training builds from the training captions (`VocabularyRule.decide`), and why.
    public var vocabulary: VocabularyDecision
    /// Share of the validation and test captions' words that map to `<unk>` in that vocabulary.
    public var unknownRateHeldOut: Double
    /// A few (image, caption) pairs from the training split.
    public var examples: [(path: String, caption: String)]

    /// Training images that exist and decode: zero means nothing to train on.
    public var usableTrainingImages: Int {
        let train = splits[.train] ?? SplitSummary()
        return train.images - train.unusableImages
    }

    /// Fewer images than this in a split make corpus metrics noise: one caption moves BLEU or
    /// CIDEr-D by several percent, and CIDEr-D's document frequencies, counted over the scored
    /// images' references, mean little (over a single image every n-gram's is the same, so
    /// CIDEr-D is 0 whatever the caption). At 25 a caption weighs 4%.
    public static let fewestImagesForMetrics = 25
    /// Fewer training images than this teach a captioner little that carries over to new
    /// images (Flickr8k, the smallest common captioning set, has 6 000); enough to check that
    /// training runs.
    public static let fewestTrainingImages = 100

    /// A warning when `images` (of a `kind`: "validation", "scored") are too few for `metrics`
    /// to mean anything; nil when there are none or enough.
    public static func fewImagesWarning(_ images: Int, kind: String, metrics: String) -> String? {
        guard images > 0 && images < fewestImagesForMetrics else { return nil }
        return "only \(Plural.counted(images, kind + " image")): \(metrics) will be noise "
            + "(\(fewestImagesForMetrics) or more give figures worth comparing)"
    }

    /// What may mislead in this dataset's `about` splits: too few training images, no or too
    /// few validation and test images.
    public func warnings(about chosen: Set<DatasetSplit> = Set(DatasetSplit.allCases)) -> [String] {
        let train = splits[.train]?.images ?? 0, validation = splits[.validation]?.images ?? 0
        let test = chosen.contains(.test) ? splits[.test]?.images ?? 0 : nil
        var warnings: [String] = []
        if chosen.contains(.train) && train > 0 && train < Self.fewestTrainingImages {
            warnings.append("only \(Plural.counted(train, "training image")): too few to learn captions that carry over "
                            + "to new images (thousands is usual); enough to check that training runs")
        }
        guard chosen.contains(.validation) else { return warnings + testWarnings(test) }
        if validation == 0 {
            warnings.append("no validation images: training reports no validation metrics and keeps as best "
                            + "the epoch with the lowest training loss")
        }
        if let warning = Self.fewImagesWarning(validation, kind: "validation",
                                                metrics: "validation metrics, and the choice of the best epoch,") {
            warnings.append(warning)
        }
        return warnings + testWarnings(test)
    }

    private func testWarnings(_ test: Int?) -> [String] {
        guard let test else { return [] }
        if test == 0 { return ["no test images: evaluate on another split"] }
        return Self.fewImagesWarning(test, kind: "test", metrics: "test metrics").map { [$0] } ?? []
    }

    /// Examines `dataset`, with the vocabulary `vocabularyRule` makes of its training captions.
    /// With `checkImages`, every image's header is read (on `threads` threads) so that
    /// unreadable files are listed; otherwise only missing files are.
    public static func inspect(_ dataset: Dataset, vocabularyRule: VocabularyRule = VocabularyRule(), checkImages: Bool = true,
                               threads: Int = 2, decoder: ImageDecoder = ImageDecoder()) -> DatasetInspection {
        let reasons = imageProblems(dataset.images.map(\.path), checkHeaders: checkImages, threads: threads, decoder: decoder)
        var splits: [DatasetSplit: SplitSummary] = [:]
        var unusable: [(String, String)] = []
        for (index, image) in dataset.images.enumerated() {
            var summary = splits[image.split] ?? SplitSummary()
            summary.images += 1
            summary.captions += image.captions.count
            if let reason = reasons[index] {
                summary.unusableImages += 1
                unusable.append((image.path, reason))
            }
            splits[image.split] = summary
        }
        let counts = dataset.images.map(\.captions.count)
        let perImage = (counts.min() ?? 0, counts.isEmpty ? 0 : Double(counts.reduce(0, +)) / Double(counts.count),
                        counts.max() ?? 0)

        var lengths: [Int: Int] = [:]
        var trainTokens: [[String]] = []
        var heldOutTokens: [[String]] = []
        for image in dataset.images {
            for caption in image.captions {
                let tokens = CaptionTokenizer.tokenize(caption)
                lengths[tokens.count, default: 0] += 1
                if image.split == .train { trainTokens.append(tokens) } else { heldOutTokens.append(tokens) }
            }
        }
        let decision = vocabularyRule.decide(trainingCaptions: trainTokens)
        var heldOutWords = 0, heldOutUnknown = 0
        for caption in heldOutTokens {
            heldOutWords += caption.count
            heldOutUnknown += caption.reduce(0) { $0 + (decision.vocabulary.contains($1) ? 0 : 1) }
        }
        let examples = dataset.images.filter { $0.split == .train }.prefix(3).compactMap { image in
            image.captions.first.map { (image.path, $0) }
        }
        return DatasetInspection(
            format: dataset.format, root: dataset.root, captionSource: dataset.captionSource,
            hasOwnSplits: dataset.hasOwnSplits, splits: splits, captionsPerImage: perImage,
            unusableImages: unusable, problems: dataset.problems, lengthCounts: lengths,
            vocabulary: decision,
            unknownRateHeldOut: heldOutWords == 0 ? 0 : Double(heldOutUnknown) / Double(heldOutWords),
            examples: Array(examples))
    }

    /// For each path, nil when usable, else why not.
    static func imageProblems(_ paths: [String], checkHeaders: Bool, threads: Int,
                              decoder: ImageDecoder) -> [String?] {
        // Each worker writes only its own slots of a preallocated buffer.
        struct Slots: @unchecked Sendable { let base: UnsafeMutablePointer<String?> }
        let slots = Slots(base: .allocate(capacity: max(1, paths.count)))
        slots.base.initialize(repeating: nil, count: paths.count)
        defer { slots.base.deinitialize(count: paths.count); slots.base.deallocate() }
        let workers = max(1, threads)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for index in stride(from: worker, to: paths.count, by: workers) {
                let path = paths[index]
                if !checkHeaders {
                    if !FileManager.default.isReadableFile(atPath: path) { slots.base[index] = "missing" }
                    continue
                }
                do throws(ImageDecodingError) {
                    _ = try decoder.info(contentsOf: path)
                } catch {
                    slots.base[index] = error.reasonDescription
                }
            }
        }
        return Array(UnsafeBufferPointer(start: slots.base, count: paths.count))
    }

    /// The report as text lines.
    public func lines(maximumListed: Int = 20) -> [String] {
        var lines: [String] = []
        lines.append("dataset: \(root)")
        lines.append("format: \(format) (captions from \(captionSource))")
        lines.append("splits: " + (hasOwnSplits ? "the dataset's own" : "drawn by image, 90/5/5 (seeded)"))
        for split in DatasetSplit.allCases {
            let summary = splits[split] ?? SplitSummary()
            var line = "  \(split.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0)) "
                + "\(Plural.counted(summary.images, "image")), \(Plural.counted(summary.captions, "caption"))"
            if summary.unusableImages > 0 { line += ", \(Plural.counted(summary.unusableImages, "unusable image"))" }
            lines.append(line)
        }
        lines.append(String(format: "captions per image: min %d, mean %.2f, max %d",
                            captionsPerImage.minimum, captionsPerImage.mean, captionsPerImage.maximum))
        if unusableImages.isEmpty {
            lines.append("image files: all present and readable")
        } else {
            lines.append("image files missing or unreadable: \(unusableImages.count)")
            for item in unusableImages.prefix(maximumListed) { lines.append("  \(item.path): \(item.reason)") }
            if unusableImages.count > maximumListed { lines.append("  ... and \(unusableImages.count - maximumListed) more") }
        }
        let emptyDropped = problems.filter { $0.kind == .emptyCaption }.count
        lines.append("empty captions dropped: \(emptyDropped)")
        let others = problems.filter { $0.kind != .emptyCaption }
        if !others.isEmpty {
            lines.append("rows skipped: \(others.count)")
            for problem in others.prefix(maximumListed) { lines.append("  \(problem)") }
            if others.count > maximumListed { lines.append("  ... and \(others.count - maximumListed) more") }
        }
        lines.append("caption length (words):")
        lines += histogramLines()
        lines.append("vocabulary: train will keep " + vocabulary.summary)
        if let reason = vocabulary.reasonText { lines.append("  " + reason) }
        lines.append(String(format: "  unknown in validation and test captions: %.1f%% of tokens", unknownRateHeldOut * 100))
        for warning in warnings() { lines.append("warning: " + warning) }
        if !examples.isEmpty {
            lines.append("examples:")
            for example in examples { lines.append("  \(example.path): \(example.caption)") }
        }
        return lines
    }

    /// Caption lengths in buckets of 5 words, with a bar.
    func histogramLines() -> [String] {
        guard let longest = lengthCounts.keys.max() else { return ["  (no captions)"] }
        var buckets: [(label: String, count: Int)] = []
        for start in stride(from: 0, through: longest, by: 5) {
            let count = (start..<(start + 5)).reduce(0) { $0 + (lengthCounts[$1] ?? 0) }
            buckets.append(("\(start)-\(start + 4)", count))
        }
        let largest = max(1, buckets.map(\.count).max() ?? 1)
        return buckets.map { bucket in
            let bar = String(repeating: "#", count: Int((Double(bucket.count) / Double(largest) * 40).rounded(.up)))
            return "  \(bucket.label.padding(toLength: 7, withPad: " ", startingAt: 0)) \(String(bucket.count).leftPadded(8)) \(bar)"
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

extension VocabularyDecision {
    /// "words seen at least 2 times: 812 words (816 tokens with the 4 special ones), 3.1% of
    /// training caption tokens unknown": what `glimpse inspect` and `glimpse train` print.
    public var summary: String {
        "words seen at least \(Plural.counted(minimumCount, "time")): \(Plural.counted(wordCount, "word")) "
            + "(\(vocabulary.count) tokens with the \(Vocabulary.specialTokens.count) special ones), "
            + String(format: "%.1f%% of training caption tokens unknown", unknownRate * 100)
    }

    /// Why the minimum count is not the default, and what the size limit left out; nil when
    /// the default was kept and nothing was left out.
    public var reasonText: String? {
        var parts: [String] = []
        switch reason {
        case .standard: break
        case .chosen:
            if minimumCount != VocabularyRule.defaultMinimumCount {
                parts.append("as asked, instead of the default \(VocabularyRule.defaultMinimumCount)")
            }
        case .lowered(let from, let rate):
            parts.append(String(format: "lowered from the default %d, which would leave %.1f%% of the training caption tokens "
                                + "unknown (it is lowered while more than %.0f%% would be)", from, rate * 100,
                                rule.maximumUnknownRate * 100))
        }
        if cappedWords > 0 {
            parts.append("capped at \(vocabulary.count) tokens: the \(Plural.counted(cappedWords, "least frequent word")) "
                         + (cappedWords == 1 ? "becomes" : "become") + " <unk> too")
        }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }
}
