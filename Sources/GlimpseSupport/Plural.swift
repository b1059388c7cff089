/// Counts in words for messages: "1 image", "3 images", "0 images", so that no output says
/// "1 images" or hedges with "image(s)".
public enum Plural {
    /// `count` and the noun, singular for exactly one; `plural` for nouns not made with "s".
    public static func counted(_ count: Int, _ singular: String, plural: String? = nil) -> String {
        "\(count) \(noun(count, singular, plural: plural))"
    }

    /// The noun alone, singular for exactly one ("3 of 5 *images*").
    public static func noun(_ count: Int, _ singular: String, plural: String? = nil) -> String {
        count == 1 ? singular : plural ?? singular + "s"
    }
}
