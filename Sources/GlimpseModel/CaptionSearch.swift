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
        let imageCount = encoded.imageCount
        let vocabularySize = configuration.vocabularySize
        let beamSize = options.beamSize
        let locations = configuration.locationCount

        struct Hypothesis {
            var tokens: [Int32]
            var logProbability: Double
            var attention: [[Float]]
        }
        // Live hypotheses per image, and the rows of the decoder state they occupy.
        var live: [[Hypothesis]] = Array(repeating: [Hypothesis(tokens: [], logProbability: 0, attention: [])], count: imageCount)
        var finished: [[CaptionHypothesis]] = Array(repeating: [], count: imageCount)
        var state = encoded.initialState()
        var previous: [Int32] = Array(repeating: Vocabulary.startID, count: imageCount)

        func score(_ logProbability: Double, length: Int) -> Double {
            guard let alpha = options.lengthNormalization else { return logProbability }
            return logProbability / pow(Double(max(length, 1)), alpha)
        }

        for step in 0..<options.maximumLength {
            guard state.rowCount > 0 else { break }
            let output = decodeStep(tokens: previous, state: state)
            let lastStep = step == options.maximumLength - 1
            var nextRows: [Int] = []
            var nextTokens: [Int32] = []
            var nextLive: [[Hypothesis]] = Array(repeating: [], count: imageCount)
            output.logProbabilities.withUnsafeBufferPointer { logProbabilities in
                output.attentionWeights.withUnsafeBufferPointer { weights in
                    var row = 0
                    for image in 0..<imageCount {
                        let hypotheses = live[image]
                        defer { row += hypotheses.count }
                        guard !hypotheses.isEmpty else { continue }
                        // How many more hypotheses this image still wants.
                        let wanted = beamSize - finished[image].count
                        guard wanted > 0 else { continue }
                        // Candidates: (total log p, hypothesis index, word), best first.
                        var candidates: [(Double, Int, Int32)] = []
                        candidates.reserveCapacity(hypotheses.count * (wanted + 1))
                        for (index, hypothesis) in hypotheses.enumerated() {
                            let base = logProbabilities.baseAddress! + (row + index) * vocabularySize
                            // The best `wanted` words of this hypothesis (plus <end>) are all it can contribute.
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
                            for (value, id) in best {
                                candidates.append((hypothesis.logProbability + Double(value), index, id))
                            }
                        }
                        candidates.sort { $0.0 != $1.0 ? $0.0 > $1.0 : ($0.1 != $1.1 ? $0.1 < $1.1 : $0.2 < $1.2) }
                        var kept = 0
                        for (total, index, id) in candidates where kept < wanted {
                            kept += 1
                            var hypothesis = hypotheses[index]
                            if options.keepsAttention && id != Vocabulary.endID {
                                let start = weights.baseAddress! + (row + index) * locations
                                hypothesis.attention.append(Array(UnsafeBufferPointer(start: start, count: locations)))
                            }
                            hypothesis.logProbability = total
                            if id == Vocabulary.endID {
                                finished[image].append(CaptionHypothesis(
                                    tokens: hypothesis.tokens, logProbability: total,
                                    score: score(total, length: hypothesis.tokens.count + 1), isComplete: true,
                                    attention: hypothesis.attention))
                            } else {
                                hypothesis.tokens.append(id)
                                if lastStep {
                                    // Cut at the maximum length: kept as a partial caption.
                                    finished[image].append(CaptionHypothesis(
                                        tokens: hypothesis.tokens, logProbability: total,
                                        score: score(total, length: hypothesis.tokens.count), isComplete: false,
                                        attention: hypothesis.attention))
                                } else {
                                    nextLive[image].append(hypothesis)
                                    nextRows.append(row + index)
                                    nextTokens.append(id)
                                }
                            }
                        }
                    }
                }
            }
            live = nextLive
            previous = nextTokens
            state = output.state.selectingRows(nextRows)
        }

        return (0..<imageCount).map { image in
            var hypotheses = finished[image]
            // Partial hypotheses only when nothing ended (or the search stopped early).
            for hypothesis in live[image] where hypotheses.count < beamSize {
                hypotheses.append(CaptionHypothesis(tokens: hypothesis.tokens, logProbability: hypothesis.logProbability,
                                                    score: score(hypothesis.logProbability, length: hypothesis.tokens.count),
                                                    isComplete: false, attention: hypothesis.attention))
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
}
