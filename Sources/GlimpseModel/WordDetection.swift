import Foundation
import GlimpseText
import GlimpseLayers
import GlimpseTensor

/// The auxiliary word-detection loss (multiple-instance learning, as the word detectors
/// of Fang et al. 2015): a linear head `word_detector` (D → V) scores every word at every
/// grid location, the image's score of a word is its best location's (max over P), and a
/// binary cross-entropy asks that score to say whether the image's captions in the batch
/// use the word.
///
///     s_npw = word_detector(a_np)            [N, P, V]
///     m_nw  = max_p s_npw                     [N, V]
///     L_w   = mean over images n and words w ≥ 4 (no special tokens) of
///             BCE(σ(m_nw), y_nw),  y_nw = 1 when a caption of image n uses word w
///
/// The captioning loss reaches the convolutions only through the attention and the LSTM,
/// one shape word in eight tokens; this loss gives every location's features a direct
/// signal of what is in the picture. It is weighted by `ModelConfiguration.wordLossWeight`
/// (β) and only trained: captioning never reads the head.
public enum WordDetection {
    /// The first word id the loss scores: ids below are `<pad>`, `<start>`, `<end>`, `<unk>`.
    public static let firstWordID = 4

    /// y [N, V]: 1 where a caption of image n (among `captions`) uses word w ≥ 4, else 0.
    public static func targets(captions: [CaptionBatch.Caption], imageCount: Int, vocabularySize: Int) -> [Float] {
        var targets = [Float](repeating: 0, count: imageCount * vocabularySize)
        for caption in captions {
            for token in caption.tokens where Int(token) >= firstWordID && Int(token) < vocabularySize {
                targets[caption.imageIndex * vocabularySize + Int(token)] = 1
            }
        }
        return targets
    }

    /// The summed BCE over images and words w ≥ 4 (the caller divides by its counts) and,
    /// when `gradientScale` is given, dL/ds [N, P, V] for L = gradientScale · the sum: zero
    /// except at each (image, word)'s best location (the first of equal maxima).
    public static func loss(logits: Tensor, targets: [Float],
                            gradientScale: Float?) -> (sum: Double, gradient: Tensor?) {
        precondition(logits.rank == 3, "word logits must be [N, P, V], got \(logits.shape)")
        let (imageCount, locations, vocabularySize) = (logits.shape[0], logits.shape[1], logits.shape[2])
        precondition(targets.count == imageCount * vocabularySize, "word targets do not match \(logits.shape)")
        var sum = 0.0
        var best = [Int](repeating: 0, count: imageCount * vocabularySize) // argmax_p per (n, w)
        var derivative = [Float](repeating: 0, count: imageCount * vocabularySize) // dBCE/dm
        logits.withUnsafeBufferPointer { scores in
            for image in 0..<imageCount {
                for word in firstWordID..<vocabularySize {
                    var location = 0
                    var largest = scores[image * locations * vocabularySize + word]
                    for candidate in 1..<max(locations, 1) {
                        let value = scores[(image * locations + candidate) * vocabularySize + word]
                        if value > largest { largest = value; location = candidate }
                    }
                    let m = Double(largest), y = Double(targets[image * vocabularySize + word])
                    // BCE with logits, stably: max(m, 0) − m·y + log(1 + e^(−|m|)).
                    sum += max(m, 0) - m * y + log1p(exp(-abs(m)))
                    best[image * vocabularySize + word] = location
                    derivative[image * vocabularySize + word] = Float(1 / (1 + exp(-m)) - y)
                }
            }
        }
        guard let gradientScale else { return (sum, nil) }
        var gradient = Tensor(zeros: logits.shape)
        gradient.withUnsafeMutableBufferPointer { target in
            for image in 0..<imageCount {
                for word in firstWordID..<vocabularySize {
                    let index = image * vocabularySize + word
                    target[(image * locations + best[index]) * vocabularySize + word] = gradientScale * derivative[index]
                }
            }
        }
        return (sum, gradient)
    }

    /// The mean the loss reports: the sum over images and scored words divided by both counts.
    public static func mean(sum: Double, imageCount: Double, vocabularySize: Int) -> Float {
        Float(sum / (imageCount * Double(max(vocabularySize - firstWordID, 1))))
    }
}
