/// The one tokenisation rule Glimpse uses for its vocabulary, training and its own
/// captions: lowercase, then the maximal runs of letters and digits (Unicode letters
/// and numbers, so "café" and "２" are kept); everything else separates words.
///
///     "A dog's ball, 2 times!"  ->  ["a", "dog", "s", "ball", "2", "times"]
///
/// (Scoring against references follows the COCO evaluation's own tokenizer instead,
/// so that metrics are comparable with published numbers; see GlimpseMetrics.)
public enum CaptionTokenizer {
    public static func tokenize(_ caption: String) -> [String] {
        var tokens: [String] = []
        var current = String.UnicodeScalarView()
        for scalar in caption.lowercased().unicodeScalars {
            if isWordScalar(scalar) {
                current.append(scalar)
            } else if !current.isEmpty {
                tokens.append(String(current))
                current = String.UnicodeScalarView()
            }
        }
        if !current.isEmpty { tokens.append(String(current)) }
        return tokens
    }

    @inline(__always)
    static func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII {
            let value = scalar.value
            return (0x61...0x7A).contains(value) || (0x30...0x39).contains(value) || (0x41...0x5A).contains(value)
        }
        let properties = scalar.properties
        // Combining marks keep accented letters written as letter + mark together.
        return properties.isAlphabetic || properties.numericType != nil
            || properties.generalCategory == .nonspacingMark || properties.generalCategory == .spacingMark
    }
}
