/// Word <-> id mapping. Ids 0 to 3 are the special tokens, then words by descending
/// count in the training captions, ties in alphabetical (code point) order.
public struct Vocabulary: Sendable, Equatable {
    public static let pad = "<pad>", start = "<start>", end = "<end>", unknown = "<unk>"
    public static let specialTokens = [pad, start, end, unknown]
    public static let padID: Int32 = 0, startID: Int32 = 1, endID: Int32 = 2, unknownID: Int32 = 3

    /// Tokens in id order, the four special tokens first.
    public let tokens: [String]
    private let ids: [String: Int32]

    public var count: Int { tokens.count }

    /// A vocabulary from tokens in id order; the first four must be the special tokens.
    private init(validTokens tokens: [String]) {
        self.tokens = tokens
        ids = Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ($1, Int32($0)) })
    }

    public init(tokens: [String]) throws(VocabularyError) {
        guard tokens.count >= 4, Array(tokens.prefix(4)) == Self.specialTokens else {
            throw .missingSpecialTokens(found: Array(tokens.prefix(4)))
        }
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (index, token) in tokens.enumerated() {
            if token.isEmpty { throw .emptyToken(index: index) }
            if token.contains(where: \.isNewline) { throw .tokenWithNewline(index: index) }
            if let previous = ids[token] { throw .duplicate(token: token, first: Int(previous), second: index) }
            ids[token] = Int32(index)
        }
        self.tokens = tokens
        self.ids = ids
    }

    /// Builds a vocabulary from tokenised training captions: words seen at least
    /// `minimumCount` times, at most `maximumSize` entries in all (specials included).
    public static func build<Captions: Sequence>(from captions: Captions, minimumCount: Int = 1,
                                                 maximumSize: Int? = nil) -> Vocabulary
    where Captions.Element == [String] {
        var counts: [String: Int] = [:]
        for caption in captions { for word in caption { counts[word, default: 0] += 1 } }
        return build(counts: counts, minimumCount: minimumCount, maximumSize: maximumSize)
    }

    /// Builds a vocabulary from word counts, as `build(from:minimumCount:maximumSize:)`.
    public static func build(counts: [String: Int], minimumCount: Int = 1, maximumSize: Int? = nil) -> Vocabulary {
        var words = counts.filter { $0.value >= minimumCount && !specialTokens.contains($0.key)
                && !$0.key.isEmpty && !$0.key.contains(where: \.isNewline) }
            .sorted { $0.value != $1.value ? $0.value > $1.value : $0.key.unicodeScalars.lexicographicallyPrecedes($1.key.unicodeScalars) }
            .map(\.key)
        if let maximumSize { words = Array(words.prefix(max(0, maximumSize - specialTokens.count))) }
        // Specials first, words unique (dictionary keys), non-empty and free of line breaks
        // (filtered above): nothing left to validate.
        return Vocabulary(validTokens: specialTokens + words)
    }

    /// The first `size` tokens (at least the specials): for a vocabulary `build` made, its
    /// most frequent words, as `build(…, maximumSize: size)` would give.
    public func truncated(to size: Int) -> Vocabulary {
        size >= count ? self : Vocabulary(validTokens: Array(tokens.prefix(max(size, Self.specialTokens.count))))
    }

    public func id(of word: String) -> Int32 { ids[word] ?? Self.unknownID }

    public func contains(_ word: String) -> Bool { ids[word] != nil }

    public func token(_ id: Int32) -> String {
        (id >= 0 && Int(id) < tokens.count) ? tokens[Int(id)] : Self.unknown
    }

    /// Word ids of a tokenised caption (unknown words become `<unk>`), without start/end.
    public func encode(_ words: [String]) -> [Int32] { words.map { id(of: $0) } }

    /// The words of `ids`, stopping at `<end>` and skipping `<start>` and `<pad>`.
    public func decode(_ ids: [Int32]) -> [String] {
        var words: [String] = []
        for id in ids {
            if id == Self.endID { break }
            if id == Self.padID || id == Self.startID { continue }
            words.append(token(id))
        }
        return words
    }

    /// One token per line, in id order (the vocab/ file format).
    public var fileContents: String { tokens.joined(separator: "\n") + "\n" }

    /// Parses the vocab/ file format.
    public init(fileContents: String) throws(VocabularyError) {
        var lines = fileContents.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? String($0.dropLast()) : String($0)
        }
        while lines.last == "" { lines.removeLast() }
        try self.init(tokens: lines)
    }

    public static func == (left: Vocabulary, right: Vocabulary) -> Bool { left.tokens == right.tokens }
}

public enum VocabularyError: Error, Equatable, Sendable, CustomStringConvertible {
    case missingSpecialTokens(found: [String])
    case emptyToken(index: Int)
    case tokenWithNewline(index: Int)
    case duplicate(token: String, first: Int, second: Int)

    public var description: String {
        switch self {
        case .missingSpecialTokens(let found):
            return "a vocabulary must start with \(Vocabulary.specialTokens.joined(separator: ", ")); found \(found.joined(separator: ", "))"
        case .emptyToken(let index): return "vocabulary entry \(index) is empty"
        case .tokenWithNewline(let index): return "vocabulary entry \(index) contains a line break"
        case .duplicate(let token, let first, let second): return "vocabulary token \"\(token)\" appears twice (ids \(first) and \(second))"
        }
    }
}
