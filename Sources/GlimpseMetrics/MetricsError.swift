/// Why a set of captions cannot be scored.
///
/// pycocoevalcap only asserts that the two key sets are equal; Glimpse names the offending
/// image ids instead, sorted, so the caller can fix its data.
public enum MetricsError: Error, Equatable, Sendable, CustomStringConvertible {
    /// There is nothing to score: both dictionaries are empty.
    case noImages
    /// Candidates were given for images that have no entry in `references`.
    case candidatesForUnknownImages([String])
    /// Images that have references but no candidate caption.
    case imagesWithoutCandidates([String])
    /// Images whose reference list is empty (every metric divides by the reference count).
    case imagesWithoutReferences([String])

    public var description: String {
        switch self {
        case .noImages:
            return "no images to score: references and candidates are both empty"
        case .candidatesForUnknownImages(let ids):
            return "\(ids.count) candidate caption(s) for images without references: \(Self.list(ids))"
        case .imagesWithoutCandidates(let ids):
            return "\(ids.count) image(s) with references but no candidate caption: \(Self.list(ids))"
        case .imagesWithoutReferences(let ids):
            return "\(ids.count) image(s) with an empty reference list: \(Self.list(ids))"
        }
    }

    /// At most ten ids, so that a wholesale mismatch does not print the whole data set.
    private static func list(_ ids: [String]) -> String {
        let shown = ids.prefix(10).map { "\"\($0)\"" }.joined(separator: ", ")
        return ids.count > 10 ? shown + ", … (\(ids.count - 10) more)" : shown
    }
}
