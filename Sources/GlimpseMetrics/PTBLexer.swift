/// The scanner loop of Stanford CoreNLP 3.4.1's `PTBLexer` run with `-preserveLines`: at each
/// position every rule of ``PTBLexerRules`` is tried, the longest match wins (trailing context
/// counts towards the length, as in JFlex), an earlier rule wins a tie, and the rule's action
/// makes zero or one token and may push text back to be scanned again.
struct PTBLexer {
    /// Tokens of each line of `text`, before lower-casing and punctuation removal.
    static func tokenize(_ text: [CodeUnit]) -> [[String]] {
        var lines: [[String]] = [[]]
        var position = 0
        while position < text.count {
            if text[position] == 0x20 {
                position += 1
                continue
            }
            if let end = fastWordEnd(in: text, at: position) ?? fastPunctuationEnd(in: text, at: position) {
                lines[lines.count - 1].append(makeString(text[position..<end]))
                position = end
                continue
            }
            guard let match = longestMatch(in: text, at: position) else {
                position += 1  // untokenizable: 3.4.1's default "firstDelete" drops it
                continue
            }
            let action = PTBLexerRules.rules[match.rule].action
            if case .newline = action { lines.append([]) }
            let (token, next) = perform(action, on: position..<match.end, in: text)
            // A token that was only soft hyphens is no token: the jar prints nothing for it.
            if let token, !token.isEmpty { lines[lines.count - 1].append(token) }
            position = next
        }
        return lines
    }

    /// Fast path for the overwhelmingly common token, a run of ASCII letters followed by a
    /// space, a line break or the end (or see `isFastBreak`): no rule matches longer or
    /// differently, except the assimilations ("gonna"), which take the full rules. The end of
    /// the token, or nil when the full rules must decide.
    static func fastWordEnd(in text: [CodeUnit], at position: Int) -> Int? {
        guard isASCIILetter(text[position]) else { return nil }
        var end = position + 1
        while end < text.count, isASCIILetter(text[end]) { end += 1 }
        guard isFastBreak(after: end, in: text, runStart: position),
              !assimilations.contains(packedLowercase(text[position..<end])) else { return nil }
        return end
    }

    /// Fast path for sentence punctuation followed by a space, a line break or the end, and
    /// not part of a number (",5"), smiley (":)") or spaced ellipsis (". . ."): only the
    /// punctuation rules themselves can match. The end of the token, or nil when the full
    /// rules must decide.
    static func fastPunctuationEnd(in text: [CodeUnit], at position: Int) -> Int? {
        let unit = text[position]
        guard unit == 0x2C || unit == 0x2E || unit == 0x3B || unit == 0x3A || unit == 0x21 || unit == 0x3F else { return nil }
        var end = position + 1
        if unit == 0x21 || unit == 0x3F {
            while end < text.count, text[end] == 0x21 || text[end] == 0x3F { end += 1 }
        }
        let spacedDots = unit == 0x2E && end + 1 < text.count && text[end] == 0x20 && text[end + 1] == 0x2E
        guard isBreakingSpace(at: end, in: text), !spacedDots else { return nil }
        return end
    }

    /// A rule's action on the text it matched (`range`, trailing context excluded): the token
    /// it makes, if any, and where scanning goes on (before `range`'s end when it pushes back).
    static func perform(_ action: PTBLexerRules.Action, on range: Range<Int>,
                        in text: [CodeUnit]) -> (token: String?, next: Int) {
        let matched = text[range]
        let string = String(decoding: matched, as: UTF16.self)
        switch action {
        case .token:
            return (string, range.upperBound)
        case .word:
            return (removingSoftHyphens(string), range.upperBound)
        case .replace(let replacement):
            return (replacement, range.upperBound)
        case .pushBack(let count):
            let next = range.upperBound - count
            return (String(decoding: text[range.lowerBound..<next], as: UTF16.self), next)
        case .acronym:
            // The period is scanned again either way; a one-letter acronym also loses it.
            let next = range.upperBound - 1
            return (matched.count == 2 ? String(decoding: text[range.lowerBound..<next], as: UTF16.self) : string, next)
        case .abbreviationEndingSentence:
            return (string, range.upperBound - 1)
        case .quotes(let probablyLeft):
            return (PTBLexer.latexQuotes(string, probablyLeft: probablyLeft), range.upperBound)
        case .number:
            let token = String(string.unicodeScalars.filter { !["\u{00AD}", "\u{066C}", "\u{2009}", "\u{202F}"].contains($0) })
            return (token, range.upperBound)
        case .keepSpaces:
            return (string.replacingSpaces(), range.upperBound)
        case .phone:
            return (string.replacingSpaces().replacingBrackets(), range.upperBound)
        case .smiley:
            return (string.replacingBrackets(), range.upperBound)
        case .hyphens:
            return ((3...4).contains(matched.count) ? "--" : string, range.upperBound)
        case .fraction:
            return (PTBLexer.fractions[string] ?? string, range.upperBound)
        case .currency:
            return (PTBLexer.currencies[string] ?? string, range.upperBound)
        case .skip, .newline:
            return (nil, range.upperBound)
        }
    }

    struct Match {
        let rule: Int
        /// End of the token itself (trailing context excluded).
        let end: Int
    }

    /// The winning rule at `position`: the longest match including trailing context; the first
    /// rule among equally long ones.
    static func longestMatch(in text: [CodeUnit], at position: Int) -> Match? {
        let unit = text[position]
        var best: Match?
        var bestLength = 0
        let candidates = unit < 0x80 ? asciiCandidates[Int(unit)]
            : PTBLexerRules.rules.indices.filter { PTBLexerRules.rules[$0].pattern.canStart(with: unit) }
        for index in candidates {
            let rule = PTBLexerRules.rules[index]
            let ends = rule.pattern.ends(in: text, from: [position])
            guard let longest = ends.last, longest > position else { continue }
            if let trailing = rule.trailing {
                // The longest total; among token ends reaching it, the longest token.
                var total = 0
                var tokenEnd = 0
                for end in ends.reversed() where end > position {
                    if let reach = trailing.ends(in: text, from: [end]).last, reach - position > total {
                        total = reach - position
                        tokenEnd = end
                    }
                }
                if total > bestLength {
                    bestLength = total
                    best = Match(rule: index, end: tokenEnd)
                }
            } else if longest - position > bestLength {
                bestLength = longest - position
                best = Match(rule: index, end: longest)
            }
        }
        return best
    }

    /// For each ASCII code unit, the rules whose match can begin with it, in rule order.
    static let asciiCandidates: [[Int]] = (0..<0x80).map { unit in
        PTBLexerRules.rules.indices.filter { PTBLexerRules.rules[$0].pattern.canStart(with: CodeUnit(unit)) }
    }

    // MARK: Actions

    /// `latexQuotes` of the lexer: straight quotes become `` ` ``/`` ` ` `` or `'`/`''` by the
    /// guessed side, then curly and angle quotes map by their shape. 3.4.1 leaves the low quotes
    /// U+201A and U+201E and the reversed U+201F unchanged.
    static func latexQuotes(_ token: String, probablyLeft: Bool) -> String {
        // Double quotes made of a curly single quote and an apostrophe come first: the jar turns
        // "’'" into "''" whichever side it guessed.
        var s = token
        for left in ["\u{0091}'", "\u{2018}'"] { s = s.replacingOccurrences(left, with: "``") }
        for right in ["\u{0092}'", "\u{2019}'"] { s = s.replacingOccurrences(right, with: "''") }
        s = s.replacingOccurrences("&apos;", with: "'")
        s = s.replacingOccurrences("'", with: probablyLeft ? "`" : "'")
        for double in ["&quot;", "\"", "''", "'`", "`'"] {
            s = s.replacingOccurrences(double, with: probablyLeft ? "``" : "''")
        }
        var out = ""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\u{0082}", "\u{008B}", "\u{0091}", "\u{2018}", "\u{201B}", "\u{2039}": out += "`"
            case "\u{0092}", "\u{009B}", "\u{2019}", "\u{203A}": out += "'"
            case "\u{0093}", "\u{201C}", "\u{00AB}": out += "``"
            case "\u{0094}", "\u{201D}", "\u{00BB}": out += "''"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static let fractions: [String: String] = [
        "\u{00BC}": "1/4", "\u{00BD}": "1/2", "\u{00BE}": "3/4", "\u{2153}": "1/3", "\u{2154}": "2/3",
    ]
    static let currencies: [String: String] = ["\u{00A2}": "cents", "\u{00A3}": "#", "\u{0080}": "$", "\u{20AC}": "$"]

    static let assimilations: Set<UInt64> = Set(["cannot", "gonna", "gotta", "lemme", "gimme", "wanna"].map(packedLowercase))

    /// Every word that an abbreviation rule accepts before a period (lower-cased; the few
    /// case-sensitive entries are included in both cases by lower-casing). One-letter words are
    /// acronyms and always take the full rules.
    static let abbreviationWords: Set<UInt64> = Set([
        "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
        "mon", "tue", "tues", "wed", "thu", "thurs", "fri",
        "ala", "ariz", "az", "ark", "calif", "colo", "conn", "ct", "dak", "del", "fla", "ga", "ill", "ind",
        "kan", "kans", "ky", "la", "mass", "md", "mich", "minn", "miss", "mo", "mont", "neb", "nev", "okla",
        "ore", "pa", "penn", "tenn", "tex", "va", "vt", "wash", "wis", "wisc", "wyo",
        "inc", "co", "cos", "corp", "pty", "pte", "ptys", "ptes", "ppty", "ppte", "pptys", "pptes", "ltd", "plc",
        "rt", "bancorp", "bhd", "assn", "univ", "intl", "sys", "tel", "est", "ext", "sq", "jr", "bros", "esq",
        "etc", "al", "seq", "bldg",
        "mr", "mrs", "ms", "mx", "dr", "drs", "prof", "profs", "sen", "sens", "rep", "reps", "atty", "attys", "lt",
        "col", "gen", "messrs", "gov", "govs", "adm", "rev", "maj", "sgt", "cpl", "pvt", "capt", "st", "ste",
        "ave", "pres", "lieut", "hon", "brig", "cmdr", "comdr", "pfc", "spc", "supt", "supts", "det", "mt", "ft",
        "adj", "adv", "asst", "assoc", "ens", "insp", "mlle", "mme", "msgr", "sfc", "sr",
        "invt", "elec", "natl", "mfg", "mtg", "dept", "blvd", "rd", "vs", "alex", "wm", "jos", "cie", "cf",
        "treas", "ph", "ca", "fig", "figs", "prop", "no", "nos", "sec", "sect", "secs", "sects", "art", "arts",
        "para", "paras", "pp", "op", "rs", "pt",
    ].map(packedLowercase))

    /// A space, a line break or the end of the text.
    static func isBreakingSpace(at index: Int, in text: [CodeUnit]) -> Bool {
        index == text.count || text[index] == 0x20 || text[index] == 0x0A
    }

    /// Whether a run of ASCII letters ending at `end` is certainly a token by itself: it is
    /// followed by a space or the end, or by `, ; : ! ?` and then a space or the end (no rule
    /// reaches across those), or by a period and a space where the run is no abbreviation.
    static func isFastBreak(after end: Int, in text: [CodeUnit], runStart: Int) -> Bool {
        if isBreakingSpace(at: end, in: text) { return true }
        switch text[end] {
        case 0x2C, 0x3B, 0x3A:
            return isBreakingSpace(at: end + 1, in: text)
        case 0x21, 0x3F:
            var after = end + 1
            while after < text.count, text[after] == 0x21 || text[after] == 0x3F { after += 1 }
            return isBreakingSpace(at: after, in: text)
        case 0x2E:
            guard end - runStart > 1, isBreakingSpace(at: end + 1, in: text) else { return false }
            if end + 2 < text.count, text[end + 1] == 0x20, text[end + 2] == 0x2E { return false }
            return !abbreviationWords.contains(packedLowercase(text[runStart..<end]))
        default:
            return false
        }
    }

    static func isASCIILetter(_ unit: CodeUnit) -> Bool {
        (0x41...0x5A).contains(unit) || (0x61...0x7A).contains(unit)
    }

    /// A word of up to nine ASCII letters, lower-cased and packed seven bits a letter into one
    /// integer, so that looking a word up in a small list allocates nothing; 0 for longer words,
    /// which are in no list.
    static func packedLowercase(_ units: some Collection<CodeUnit>) -> UInt64 {
        guard units.count <= 9 else { return 0 }
        var packed: UInt64 = 0
        for unit in units { packed = packed << 7 | UInt64(LexerPattern.foldCase(unit) & 0x7F) }
        return packed
    }

    static func packedLowercase(_ word: String) -> UInt64 { packedLowercase(Array(word.utf16)) }

    /// A string from code units, without the general UTF-16 decoder for ASCII text.
    static func makeString(_ units: ArraySlice<CodeUnit>) -> String {
        guard units.allSatisfy({ $0 < 0x80 }) else { return String(decoding: units, as: UTF16.self) }
        return String(unsafeUninitializedCapacity: units.count) { buffer in
            for (offset, unit) in units.enumerated() { buffer[offset] = UInt8(unit) }
            return units.count
        }
    }

    static func removingSoftHyphens(_ token: String) -> String {
        token.contains("\u{00AD}") ? String(token.unicodeScalars.filter { $0 != "\u{00AD}" }) : token
    }
}

extension String {
    /// Every occurrence of `target` replaced, scanning left to right by Unicode scalars (no
    /// Foundation, and no canonical-equivalence matching).
    func replacingOccurrences(_ target: String, with replacement: String) -> String {
        let source = Array(unicodeScalars)
        let pattern = Array(target.unicodeScalars)
        guard !pattern.isEmpty, source.count >= pattern.count else { return self }
        var out = String.UnicodeScalarView()
        var index = 0
        while index < source.count {
            if index + pattern.count <= source.count, Array(source[index..<(index + pattern.count)]) == pattern {
                out.append(contentsOf: replacement.unicodeScalars)
                index += pattern.count
            } else {
                out.append(source[index])
                index += 1
            }
        }
        return String(out)
    }

    /// `normalizeSpace`: a token never contains a plain space.
    func replacingSpaces() -> String { replacingOccurrences(" ", with: "\u{00A0}") }

    func replacingBrackets() -> String {
        replacingOccurrences("(", with: "-LRB-").replacingOccurrences(")", with: "-RRB-")
    }
}
