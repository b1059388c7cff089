import Dispatch
import Foundation
import GlimpseImage
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
    public var minimumWordCount: Int
    /// Vocabulary built from the training captions at `minimumWordCount`, specials included.
    public var vocabularySize: Int
    /// Share of words that map to `<unk>`: in the training captions and in the others.
    public var unknownRateTrain: Double
    public var unknownRateHeldOut: Double
    /// A few (image, caption) pairs from the training split.
    public var examples: [(path: String, caption: String)]

    /// Training images that exist and decode: zero means nothing to train on.
    public var usableTrainingImages: Int {
        let train = splits[.train] ?? SplitSummary()
        return train.images - train.unusableImages
    }

    /// Examines `dataset`. With `checkImages`, every image's header is read (on
    /// `threads` threads) so that unreadable files are listed; otherwise only
    /// missing files are.
    public static func inspect(_ dataset: Dataset, minimumWordCount: Int = 1, checkImages: Bool = true,
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
        let vocabulary = Vocabulary.build(from: trainTokens, minimumCount: minimumWordCount)
        func unknownRate(_ captions: [[String]]) -> Double {
            var total = 0, unknown = 0
            for caption in captions {
                total += caption.count
                unknown += caption.reduce(0) { $0 + (vocabulary.contains($1) ? 0 : 1) }
            }
            return total == 0 ? 0 : Double(unknown) / Double(total)
        }
        let examples = dataset.images.filter { $0.split == .train }.prefix(3).compactMap { image in
            image.captions.first.map { (image.path, $0) }
        }
        return DatasetInspection(
            format: dataset.format, root: dataset.root, captionSource: dataset.captionSource,
            hasOwnSplits: dataset.hasOwnSplits, splits: splits, captionsPerImage: perImage,
            unusableImages: unusable, problems: dataset.problems, lengthCounts: lengths,
            minimumWordCount: minimumWordCount, vocabularySize: vocabulary.count,
            unknownRateTrain: unknownRate(trainTokens), unknownRateHeldOut: unknownRate(heldOutTokens),
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
            var line = "  \(split.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0)) \(summary.images) images, \(summary.captions) captions"
            if summary.unusableImages > 0 { line += ", \(summary.unusableImages) unusable images" }
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
        lines.append("vocabulary at min count \(minimumWordCount): \(vocabularySize) tokens (4 special)")
        lines.append(String(format: "unknown words: %.2f%% of training words, %.2f%% of validation and test words",
                            unknownRateTrain * 100, unknownRateHeldOut * 100))
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
