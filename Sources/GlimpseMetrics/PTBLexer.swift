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
            let unit = text[position]
            // Fast path for the overwhelmingly common token, a run of ASCII letters followed by a
            // space, a line break or the end: no rule matches longer or differently, except the
            // assimilations ("gonna") handled below.
            if unit == 0x20 {
                position += 1
                continue
            }
            if isASCIILetter(unit) {
                var end = position + 1
                while end < text.count, isASCIILetter(text[end]) { end += 1 }
                if end == text.count || text[end] == 0x20 || text[end] == 0x0A,
                   !assimilations.contains(asciiLowercased(text[position..<end])) {
                    lines[lines.count - 1].append(String(decoding: text[position..<end], as: UTF16.self))
                    position = end
                    continue
                }
            }

            guard let match = longestMatch(in: text, at: position) else {
                position += 1  // untokenizable: 3.4.1's default "firstDelete" drops it
                continue
            }
            let matched = text[position..<match.end]
            let string = String(decoding: matched, as: UTF16.self)
            var next = match.end
            var token: String?
            switch PTBLexerRules.rules[match.rule].action {
            case .token:
                token = removingSoftHyphens(string)
            case .replace(let replacement):
                token = replacement
            case .pushBack(let count):
                next = match.end - count
                token = String(decoding: text[position..<next], as: UTF16.self)
            case .acronym:
                if matched.count == 2 {
                    next = match.end - 1
                    token = String(decoding: text[position..<next], as: UTF16.self)
                } else {
                    next = match.end - 1
                    token = string
                }
            case .abbreviationEndingSentence:
                next = match.end - 1
                token = string
            case .quotes(let probablyLeft):
                token = PTBLexer.latexQuotes(string, probablyLeft: probablyLeft)
            case .number:
                token = String(string.unicodeScalars.filter { !["\u{00AD}", "\u{066C}", "\u{2009}", "\u{202F}"].contains($0) })
            case .keepSpaces:
                token = string.replacingSpaces()
            case .phone:
                token = string.replacingSpaces().replacingBrackets()
            case .smiley:
                token = string.replacingBrackets()
            case .hyphens:
                token = (3...4).contains(matched.count) ? "--" : string
            case .fraction:
                token = PTBLexer.fractions[string] ?? string
            case .currency:
                token = PTBLexer.currencies[string] ?? string
            case .skip:
                token = nil
            case .newline:
                lines.append([])
                token = nil
            }
            if let token { lines[lines.count - 1].append(token) }
            position = next
        }
        return lines
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
        for (index, rule) in PTBLexerRules.rules.enumerated() where rule.pattern.canStart(with: unit) {
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

    // MARK: Actions

    /// `latexQuotes` of the lexer: straight quotes become `` ` ``/`` ` ` `` or `'`/`''` by the
    /// guessed side, then curly and angle quotes map by their shape. 3.4.1 leaves the low quotes
    /// U+201A and U+201E and the reversed U+201F unchanged.
    static func latexQuotes(_ token: String, probablyLeft: Bool) -> String {
        var s = token.replacingOccurrences("&apos;", with: "'")
        s = s.replacingOccurrences("'", with: probablyLeft ? "`" : "'")
        for double in ["&quot;", "\"", "''", "'`", "`'"] {
            s = s.replacingOccurrences(double, with: probablyLeft ? "``" : "''")
        }
        // Double quotes made of a curly single quote and an apostrophe go before the single ones.
        for left in ["\u{0091}'", "\u{2018}'"] { s = s.replacingOccurrences(left, with: "``") }
        for right in ["\u{0092}'", "\u{2019}'"] { s = s.replacingOccurrences(right, with: "''") }
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

    static let assimilations: Set<String> = ["cannot", "gonna", "gotta", "lemme", "gimme", "wanna"]

    static func isASCIILetter(_ unit: CodeUnit) -> Bool {
        (0x41...0x5A).contains(unit) || (0x61...0x7A).contains(unit)
    }

    static func asciiLowercased(_ units: ArraySlice<CodeUnit>) -> String {
        String(decoding: units.map(LexerPattern.foldCase), as: UTF16.self)
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
