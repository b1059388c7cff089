/// The metrics of the COCO caption evaluation, and whether Glimpse computes each.
public enum CaptionMetric: String, CaseIterable, Sendable {
    case bleu1 = "Bleu_1"
    case bleu2 = "Bleu_2"
    case bleu3 = "Bleu_3"
    case bleu4 = "Bleu_4"
    case meteor = "METEOR"
    case rougeL = "ROUGE_L"
    case ciderD = "CIDEr"
    case spice = "SPICE"

    /// METEOR needs the METEOR 1.5 jar with its paraphrase tables and SPICE a Java scene-graph
    /// parser; neither can be reproduced exactly in-process, and an approximation reported under
    /// their names would be mistaken for the real number. So they are never computed.
    public var isComputed: Bool {
        switch self {
        case .meteor, .spice: return false
        default: return true
        }
    }
}

/// Scores of one image's candidate caption.
public struct ImageCaptionScores: Equatable, Sendable {
    /// Cumulative BLEU-1…4 of this image alone (pycocoevalcap's per-image list), in [0, 1].
    public var bleu1: Double
    public var bleu2: Double
    public var bleu3: Double
    public var bleu4: Double
    /// ROUGE-L F-measure (beta 1.2) against the best-matching reference, in [0, 1].
    public var rougeL: Double
    /// CIDEr-D of this image (pycocoevalcap's "CIDEr"): 0 without shared n-grams; typically
    /// 0…5, larger for captions that share rare n-grams with every reference.
    public var ciderD: Double
    /// The candidate after tokenisation, as the metrics saw it.
    public var tokenizedCandidate: String
    /// The references after tokenisation.
    public var tokenizedReferences: [String]

    /// The value of `metric`, or nil for METEOR and SPICE, which Glimpse does not compute.
    public func value(of metric: CaptionMetric) -> Double? {
        Self.value(of: metric, bleu: [bleu1, bleu2, bleu3, bleu4], rougeL: rougeL, ciderD: ciderD)
    }

    static func value(of metric: CaptionMetric, bleu: [Double], rougeL: Double, ciderD: Double) -> Double? {
        switch metric {
        case .bleu1: return bleu[0]
        case .bleu2: return bleu[1]
        case .bleu3: return bleu[2]
        case .bleu4: return bleu[3]
        case .rougeL: return rougeL
        case .ciderD: return ciderD
        case .meteor, .spice: return nil
        }
    }
}

/// Corpus scores and per-image scores of a caption set.
///
/// There are no METEOR or SPICE fields: see ``CaptionMetric/isComputed``.
public struct CaptionScores: Equatable, Sendable {
    /// Corpus-level cumulative BLEU-1…4 (n-gram counts summed over all images before the
    /// geometric mean and the brevity penalty), in [0, 1].
    public var bleu1: Double
    public var bleu2: Double
    public var bleu3: Double
    public var bleu4: Double
    /// Mean over images of the per-image ROUGE-L.
    public var rougeL: Double
    /// Mean over images of the per-image CIDEr-D.
    public var ciderD: Double
    /// Scores of every image, keyed by image id.
    public var perImage: [String: ImageCaptionScores]

    /// The value of `metric`, or nil for METEOR and SPICE, which Glimpse does not compute.
    public func value(of metric: CaptionMetric) -> Double? {
        ImageCaptionScores.value(of: metric, bleu: [bleu1, bleu2, bleu3, bleu4], rougeL: rougeL, ciderD: ciderD)
    }

    /// Image ids ordered from the lowest `metric` score up (ties by id), to find the worst captions.
    /// Empty for a metric that is not computed.
    public func imagesRanked(by metric: CaptionMetric) -> [String] {
        guard metric.isComputed else { return [] }
        return perImage.sorted { a, b in
            let (x, y) = (a.value.value(of: metric)!, b.value.value(of: metric)!)
            return x != y ? x < y : a.key < b.key
        }.map(\.key)
    }
}
