/// A small regular-expression engine with JFlex's matching rules, enough to transcribe the
/// PTB lexer specification: patterns run over UTF-16 code units (as Java's `char`s) and report
/// *every* position where a match can end, so that the lexer can take the longest match over all
/// rules, as a JFlex scanner does, instead of a backtracking engine's first match.

/// One UTF-16 code unit of the input.
typealias CodeUnit = UInt16

/// A regular pattern over UTF-16 code units.
indirect enum LexerPattern: Sendable {
    /// One code unit that satisfies the predicate (a JFlex character class; never caseless).
    case unit(@Sendable (CodeUnit) -> Bool)
    /// A literal string, matched case-insensitively for ASCII letters as under `%caseless`.
    case literal([CodeUnit])
    case sequence([LexerPattern])
    case choice([LexerPattern])
    /// `minimum...maximum` repetitions; `maximum == nil` is unbounded.
    case repetition(LexerPattern, minimum: Int, maximum: Int?)

    // MARK: Building

    static func lit(_ text: String) -> LexerPattern { .literal(Array(text.utf16)) }
    static func seq(_ parts: LexerPattern...) -> LexerPattern { .sequence(parts) }
    static func any(_ parts: LexerPattern...) -> LexerPattern { .choice(parts) }
    static func anyLiteral(_ words: [String]) -> LexerPattern { .choice(words.map(lit)) }
    var star: LexerPattern { .repetition(self, minimum: 0, maximum: nil) }
    var plus: LexerPattern { .repetition(self, minimum: 1, maximum: nil) }
    var optional: LexerPattern { .repetition(self, minimum: 0, maximum: 1) }
    func times(_ minimum: Int, _ maximum: Int) -> LexerPattern {
        .repetition(self, minimum: minimum, maximum: maximum)
    }

    // MARK: Matching

    /// All end positions of matches that start at one of `starts` (sorted, without duplicates).
    func ends(in text: [CodeUnit], from starts: [Int]) -> [Int] {
        if starts.isEmpty { return [] }
        switch self {
        case .unit(let predicate):
            return starts.compactMap { $0 < text.count && predicate(text[$0]) ? $0 + 1 : nil }
        case .literal(let units):
            return starts.compactMap { start in
                guard start + units.count <= text.count else { return nil }
                for (offset, unit) in units.enumerated()
                where LexerPattern.foldCase(text[start + offset]) != LexerPattern.foldCase(unit) {
                    return nil
                }
                return start + units.count
            }
        case .sequence(let parts):
            var positions = starts
            for part in parts {
                positions = part.ends(in: text, from: positions)
                if positions.isEmpty { return [] }
            }
            return positions
        case .choice(let alternatives):
            var union: [Int] = []
            for alternative in alternatives {
                union.append(contentsOf: alternative.ends(in: text, from: starts))
            }
            return LexerPattern.sortedUnique(union)
        case .repetition(let pattern, let minimum, let maximum):
            var result = minimum == 0 ? starts : []
            var frontier = starts
            var count = 0
            while maximum == nil || count < maximum! {
                count += 1
                var next = pattern.ends(in: text, from: frontier)
                if count > minimum {
                    // Past the minimum, positions already reached add nothing new.
                    next = next.filter { !result.contains($0) }
                }
                if next.isEmpty { break }
                if count >= minimum { result.append(contentsOf: next) }
                frontier = next
            }
            return LexerPattern.sortedUnique(result)
        }
    }

    /// Whether a match could begin with `unit`; lets the lexer skip most rules cheaply.
    func canStart(with unit: CodeUnit) -> Bool {
        switch self {
        case .unit(let predicate):
            return predicate(unit)
        case .literal(let units):
            return units.isEmpty || LexerPattern.foldCase(units[0]) == LexerPattern.foldCase(unit)
        case .sequence(let parts):
            for part in parts {
                if part.canStart(with: unit) { return true }
                if !part.matchesEmpty { return false }
            }
            return false
        case .choice(let alternatives):
            return alternatives.contains { $0.canStart(with: unit) }
        case .repetition(let pattern, _, _):
            return pattern.canStart(with: unit)
        }
    }

    var matchesEmpty: Bool {
        switch self {
        case .unit: return false
        case .literal(let units): return units.isEmpty
        case .sequence(let parts): return parts.allSatisfy(\.matchesEmpty)
        case .choice(let alternatives): return alternatives.contains(where: \.matchesEmpty)
        case .repetition(let pattern, let minimum, _): return minimum == 0 || pattern.matchesEmpty
        }
    }

    static func foldCase(_ unit: CodeUnit) -> CodeUnit {
        (0x41...0x5A).contains(unit) ? unit + 0x20 : unit
    }

    static func sortedUnique(_ positions: [Int]) -> [Int] {
        if positions.count < 2 { return positions }
        var sorted = positions.sorted()
        var write = 1
        for read in 1..<sorted.count where sorted[read] != sorted[write - 1] {
            sorted[write] = sorted[read]
            write += 1
        }
        sorted.removeLast(sorted.count - write)
        return sorted
    }
}

// MARK: Character classes

/// A JFlex character class as a predicate on one code unit.
struct UnitClass: Sendable {
    let contains: @Sendable (CodeUnit) -> Bool

    init(_ contains: @escaping @Sendable (CodeUnit) -> Bool) { self.contains = contains }

    /// The listed characters and inclusive ranges, e.g. `UnitClass(" \t", ranges: [(0x2000, 0x200A)])`.
    init(_ characters: String, ranges: [(CodeUnit, CodeUnit)] = []) {
        let singles = Set(characters.utf16)
        contains = { unit in singles.contains(unit) || ranges.contains { $0.0 <= unit && unit <= $0.1 } }
    }

    static func | (lhs: UnitClass, rhs: UnitClass) -> UnitClass {
        UnitClass { lhs.contains($0) || rhs.contains($0) }
    }

    var inverted: UnitClass { UnitClass { !self.contains($0) } }
    var pattern: LexerPattern { .unit(contains) }
}

extension CodeUnit {
    /// The code point of a BMP code unit; nil for a surrogate half, which JFlex 1.4 sees as an
    /// unknown character (so supplementary characters, emoji included, never match a class).
    var bmpScalar: Unicode.Scalar? {
        (0xD800...0xDFFF).contains(self) ? nil : Unicode.Scalar(UInt32(self))
    }
}
