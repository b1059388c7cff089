/// Placeholder, replaced in the next commit.
public struct PTBTokenizer: Sendable {
    public init() {}
    public func tokenize(_ caption: String) -> String { caption.lowercased() }
}
