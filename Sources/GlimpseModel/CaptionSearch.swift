import Foundation
import GlimpseText
import GlimpseTensor

/// How captions are searched for.
public struct DecodingOptions: Sendable, Equatable {
    /// Hypotheses kept per image; 1 is greedy decoding.
    public var beamSize: Int = 3
    /// Words at most, `<end>` not counted.
    public var maximumLength: Int = 30
    /// Rank finished hypotheses by log-probability / length^α instead of the plain
    /// sum (which favours short captions). nil: no normalisation.
    public var lengthNormalization: Double? = nil
    /// How many hypotheses to return per image (at most `beamSize`).
    public var nBest: Int = 1
    /// Never produce `<unk>`.
    public var suppressUnknown: Bool = false
    /// Keep the attention weights of every word of the returned hypotheses.
    public var keepsAttention: Bool = false

    public init(beamSize: Int = 3, maximumLength: Int = 30, lengthNormalization: Double? = nil, nBest: Int = 1,
                suppressUnknown: Bool = false, keepsAttention: Bool = false) {
        precondition(beamSize >= 1 && maximumLength >= 1 && nBest >= 1, "beam size, length and n-best must be positive")
        self.beamSize = beamSize
        self.maximumLength = maximumLength
        self.lengthNormalization = lengthNormalization
        self.nBest = nBest
        self.suppressUnknown = suppressUnknown
        self.keepsAttention = keepsAttention
    }
}

/// One caption the search found.
public struct CaptionHypothesis: Sendable, Equatable {
    /// Word ids, without `<start>` and `<end>`.
    public var tokens: [Int32]
    /// Σ log p of the words and, when it ended, of `<end>`.
    public var logProbability: Double
    /// What the search ranked it by (the log-probability, length-normalised if asked).
    public var score: Double
    /// Whether it ended with `<end>` (false: cut at the maximum length).
    public var isComplete: Bool
    /// Per word, α over the P grid locations; empty unless asked for.
    public var attention: [[Float]]
}

/// The search's result for one image: hypotheses, best first.
public struct CaptionResult: Sendable {
    public var hypotheses: [CaptionHypothesis]
    /// How close the image lies to the model's training images, when the model carries a
    /// `FeatureSummary` (set by `Captioner`).
    public var familiarity: Familiarity?
    public var best: CaptionHypothesis { hypotheses[0] }
}

extension CaptioningModel {
    /// Captions for N images [N, 3, S, S], searched in one batch: every step runs the
    /// decoder once over all live hypotheses of all images. Deterministic: ties are
    /// broken by hypothesis order, then by word id.
    public func caption(_ images: Tensor, options: DecodingOptions = DecodingOptions()) -> [CaptionResult] {
        let encoded = encode(images)
        return search(encoded, options: options)
    }

    /// The search on already encoded images.
    public func search(_ encoded: EncodedImages, options: DecodingOptions) -> [CaptionResult] {
        var search = BeamSearch(imageCount: encoded.imageCount, vocabularySize: configuration.vocabularySize,
                                locations: configuration.locationCount, options: options)
        // One decoder row per live hypothesis; `<start>` for every image first.
        var state = encoded.initialState()
        for step in 0..<options.maximumLength {
            guard state.rowCount > 0 else { break }
            let output = decodeStep(tokens: search.previous, state: state)
            let rows = search.advance(by: output, isLastStep: step == options.maximumLength - 1)
            state = output.state.selectingRows(rows)
        }
        return search.results()
    }
}

/// The search's bookkeeping between decoder steps: per image, the live hypotheses (one
/// decoder row each, images in order) and the finished ones.
private struct BeamSearch {
    struct Hypothesis {
        var tokens: [Int32]
        var logProbability: Double
        var attention: [[Float]]
    }
    /// A way to extend a live hypothesis: (total log p, hypothesis index within its image, word).
    typealias Candidate = (Double, Int, Int32)

    let options: DecodingOptions
    let vocabularySize: Int
    let locations: Int
    /// Live hypotheses per image, and the rows of the decoder state they occupy.
    var live: [[Hypothesis]]
    var finished: [[CaptionHypothesis]]
    /// The next step's input: the last word of each live hypothesis, one per row.
    var previous: [Int32]

    init(imageCount: Int, vocabularySize: Int, locations: Int, options: DecodingOptions) {
        self.options = options
        self.vocabularySize = vocabularySize
        self.locations = locations
        live = Array(repeating: [Hypothesis(tokens: [], logProbability: 0, attention: [])], count: imageCount)
        finished = Array(repeating: [], count: imageCount)
        previous = Array(repeating: Vocabulary.startID, count: imageCount)
    }

    /// One step: extends each image's live hypotheses by the step's log-probabilities, keeps
    /// as many candidates as the image still wants, finishes those that end (or reach the
    /// maximum length), and returns the decoder rows the live ones carry on from.
    mutating func advance(by output: DecodeStepOutput, isLastStep: Bool) -> [Int] {
        var nextRows: [Int] = []
        var nextTokens: [Int32] = []
        var nextLive: [[Hypothesis]] = Array(repeating: [], count: live.count)
        output.logProbabilities.withUnsafeBufferPointer { logProbabilities in
            output.attentionWeights.withUnsafeBufferPointer { weights in
                var row = 0
                for image in live.indices {
                    let hypotheses = live[image]
                    defer { row += hypotheses.count }
                    guard !hypotheses.isEmpty else { continue }
                    // How many more hypotheses this image still wants.
                    let wanted = options.beamSize - finished[image].count
                    guard wanted > 0 else { continue }
                    let candidates = self.candidates(extending: hypotheses, firstRow: row, wanted: wanted,
                                                     logProbabilities: logProbabilities)
                    for (total, index, id) in candidates.prefix(wanted) {
                        var hypothesis = hypotheses[index]
                        if options.keepsAttention && id != Vocabulary.endID {
                            let start = weights.baseAddress! + (row + index) * locations
                            hypothesis.attention.append(Array(UnsafeBufferPointer(start: start, count: locations)))
                        }
                        hypothesis.logProbability = total
                        if let extended = extend(hypothesis, by: id, image: image, isLastStep: isLastStep) {
                            nextLive[image].append(extended)
                            nextRows.append(row + index)
                            nextTokens.append(id)
                        }
                    }
                }
            }
        }
        live = nextLive
        previous = nextTokens
        return nextRows
    }

    /// The candidates of one image's live hypotheses (decoder rows from `firstRow` on), best
    /// first; ties go to the earlier hypothesis, then the lower word id.
    func candidates(extending hypotheses: [Hypothesis], firstRow: Int, wanted: Int,
                    logProbabilities: UnsafeBufferPointer<Float>) -> [Candidate] {
        var candidates: [Candidate] = []
        candidates.reserveCapacity(hypotheses.count * (wanted + 1))
        for (index, hypothesis) in hypotheses.enumerated() {
            let base = logProbabilities.baseAddress! + (firstRow + index) * vocabularySize
            // The best `wanted` words of this hypothesis (plus <end>) are all it can contribute.
            for (value, id) in bestWords(base, count: wanted) {
                candidates.append((hypothesis.logProbability + Double(value), index, id))
            }
        }
        candidates.sort { $0.0 != $1.0 ? $0.0 > $1.0 : ($0.1 != $1.1 ? $0.1 < $1.1 : $0.2 < $1.2) }
        return candidates
    }

    /// The `wanted` most likely words of one row of log-probabilities [V], best first (ties:
    /// lower id first). Never `<pad>` or `<start>`, nor `<unk>` when it is suppressed.
    func bestWords(_ base: UnsafePointer<Float>, count wanted: Int) -> [(Float, Int32)] {
        var best: [(Float, Int32)] = []
        for word in 0..<vocabularySize {
            let id = Int32(word)
            if id == Vocabulary.padID || id == Vocabulary.startID { continue }
            if options.suppressUnknown && id == Vocabulary.unknownID { continue }
            let value = base[word]
            if best.count < wanted {
                best.append((value, id))
                best.sort { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 < $1.1 }
            } else if value > best[wanted - 1].0 {
                best[wanted - 1] = (value, id)
                best.sort { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 < $1.1 }
            }
        }
        return best
    }

    /// Adds word `id` to `hypothesis` of `image`, whose log-probability already counts it.
    /// `<end>` finishes it complete; on the last step it finishes cut. Otherwise it is
    /// returned to stay live.
    mutating func extend(_ hypothesis: Hypothesis, by id: Int32, image: Int, isLastStep: Bool) -> Hypothesis? {
        if id == Vocabulary.endID {
            finished[image].append(caption(hypothesis, isComplete: true))
            return nil
        }
        var hypothesis = hypothesis
        hypothesis.tokens.append(id)
        guard isLastStep else { return hypothesis }
        // Cut at the maximum length: kept as a partial caption.
        finished[image].append(caption(hypothesis, isComplete: false))
        return nil
    }

    /// Per image, the finished hypotheses (topped up with live ones), ranked, the n best.
    func results() -> [CaptionResult] {
        (0..<live.count).map { image in
            var hypotheses = finished[image]
            // Partial hypotheses only when nothing ended (or the search stopped early).
            for hypothesis in live[image] where hypotheses.count < options.beamSize {
                hypotheses.append(caption(hypothesis, isComplete: false))
            }
            // Complete captions rank before cut ones; then by score; then by tokens for determinism.
            hypotheses.sort {
                if $0.isComplete != $1.isComplete { return $0.isComplete }
                if $0.score != $1.score { return $0.score > $1.score }
                return $0.tokens.lexicographicallyPrecedes($1.tokens)
            }
            if !options.keepsAttention { for index in hypotheses.indices { hypotheses[index].attention = [] } }
            return CaptionResult(hypotheses: Array(hypotheses.prefix(max(1, options.nBest))))
        }
    }

    /// A hypothesis as returned; a complete one's length counts its `<end>`.
    func caption(_ hypothesis: Hypothesis, isComplete: Bool) -> CaptionHypothesis {
        let length = hypothesis.tokens.count + (isComplete ? 1 : 0)
        return CaptionHypothesis(tokens: hypothesis.tokens, logProbability: hypothesis.logProbability,
                                 score: score(hypothesis.logProbability, length: length), isComplete: isComplete,
                                 attention: hypothesis.attention)
    }

    /// What hypotheses are ranked by: log p, divided by length^α when asked.
    func score(_ logProbability: Double, length: Int) -> Double {
        guard let alpha = options.lengthNormalization else { return logProbability }
        return logProbability / pow(Double(max(length, 1)), alpha)
    }
}
