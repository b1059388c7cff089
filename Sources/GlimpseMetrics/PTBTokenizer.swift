/// The tokenisation step of the COCO caption evaluation, reimplemented natively.
///
/// pycocoevalcap 1.2 writes all captions of one call to a file, one per line (each caption's
/// `"\n"` replaced by a space), runs Stanford CoreNLP 3.4.1's
/// `edu.stanford.nlp.process.PTBTokenizer -preserveLines -lowerCase` over it, drops the tokens
/// `'' ' `` ` -LRB- -RRB- -LCB- -RCB- . ? ! , : - -- ... ;` and joins the rest with single spaces.
/// This type reproduces that output string for string.
///
/// Rules of the 3.4.1 lexer that shape caption tokens (all checked against the real jar):
/// - Lower-casing happens after tokenisation, per code point with full mappings ("İ" → "i̇"),
///   plus Java's final sigma ("ΟΔΟΣ" → "οδος"); rules that look at capitals (sentence ends) see
///   the original case.
/// - Punctuation splits off words: `dog.` → `dog .`, `end?!` → `end ?!`; an ellipsis (`...`,
///   `....`, `. . .`, `…`) becomes `...`; `--`, `—`, `–` become `--`. All of these are then
///   dropped, but multi-character runs such as `?!?`, `!!!` and five or more hyphens are kept.
/// - Brackets become `-lrb- -rrb- -lsb- -rsb- -lcb- -rcb-` and are *kept*: pycocoevalcap's
///   filter lists the upper-case forms, which `-lowerCase` never produces.
/// - Quotes: `"` becomes `` `` `` or `''` and `'` becomes `` ` `` or `'` by a guess of the side;
///   curly `“ ” ‘ ’`, `‹ ›` and `« »` map by shape; all of these are dropped. `‚ „ ‟` are kept as
///   they are. A curly `’` before `s m d re ve ll` is a clitic even inside a word (`’Sa` → `'s a`).
/// - Clitics split: `n't` (`can't` → `ca n't`, `won't` → `wo n't`, `don'ts` → `do n'ts`), `'s`,
///   `'re`, `'ve`, `'m`, `'ll`, `'d`; `cannot` → `can not`, `gonna` `gotta` `wanna` `lemme`
///   `gimme` → `gon na` etc., `'tis` `'twas` → `'t is`; `dunno` stays. Words such as `o'clock`,
///   `o'neil`, `rock 'n' roll`, `'90s`, `'em`, `'til`, `'cause`, `c'mon` stay whole, with the
///   apostrophe as typed (`o’clock`); `y'all` → `y' all`.
/// - Hyphenated words stay whole (`black-and-white`, `2-year-old`, `e-mail`); leading or trailing
///   hyphens split off. Words may contain `. ! ?` between letters (`hello.world`); URLs, e-mail
///   addresses, file names (`photo.jpg`), `#hashtags`, `@handles`, `AT&T`, `c++` stay whole.
/// - Numbers keep `, . :` inside (`3,000`, `1.5`, `12:30`, `.5`, `-5`, `+5`); `½` → `1/2`;
///   `5 1/2` and phone numbers stay one token with a no-break space (U+00A0) inside, which
///   BLEU and CIDEr-D (Python `str.split()`) then split again but ROUGE-L (`split(" ")`) does not.
///   `/` and `*` are *not* escaped by this version (`a/b` stays, `a*b` → `a * b`).
/// - Abbreviations and acronyms keep their period (`mr.`, `st.`, `u.s.`, `e.g.`, `etc.`,
///   `no.` before a number); a one-letter acronym before a capitalised sentence starter loses it
///   (`I. The` → `i`), which is why a caption's last token can depend on the *next* caption's
///   first word: use ``tokenize(_:)-([String])`` on a batch to reproduce that.
/// - Currency: `$` splits from the amount; `£` → `#`, `€` → `$`, `¢` → `cents`.
/// - Non-ASCII letters are letters (accents, Greek, Cyrillic, CJK, Hangul); characters outside
///   the Basic Multilingual Plane (emoji such as 😀, rare CJK) are deleted, as the jar's 16-bit
///   lexer does not recognise surrogate pairs; BMP symbols such as `❤ ☺ ★` are kept.
///
/// Known differences from the real tool (details in `Docs/metrics.md`):
/// - ``CaptionEvaluator`` batches captions in sorted image-id order, pycocoevalcap in its
///   dictionaries' order; only a caption ending in a one-letter acronym (`by I.`) can differ.
/// - Line breaks other than `"\n"` (`"\r"`, U+2028, U+2029, U+000B, U+000C) are spaces here; in
///   the real tool they add lines and shift every later caption onto the wrong image.
/// - The jar lower-cases with the JVM locale (a Turkish locale gives dotless `ı`); Glimpse as
///   under any other locale.
/// - Letter and digit classes and case mappings come from Swift's newer Unicode tables; Java's
///   word bounds for the final sigma are approximated (`4tBxΣ6_mG`).
/// - SGML tags spanning lines, rare entity forms and JFlex's choice among several token ends
///   of one trailing-context rule are not reproduced.
public struct PTBTokenizer: Sendable {
    /// The tokens pycocoevalcap removes after tokenising, exactly as its `PUNCTUATIONS` list.
    public static let removedPunctuation: Set<String> = [
        "''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-",
        ".", "?", "!", ",", ":", "-", "--", "...", ";",
    ]

    public init() {}

    /// One caption, tokenised as if it were the only line of the tokenizer's input.
    public func tokenize(_ caption: String) -> String {
        tokenize([caption])[0]
    }

    /// Captions tokenised together as pycocoevalcap does in one call: joined as lines of one
    /// input, so that a caption's end sees the beginning of the next one. Returns one string per
    /// caption, tokens joined by single spaces.
    public func tokenize(_ captions: [String]) -> [String] {
        guard !captions.isEmpty else { return [] }
        var text: [CodeUnit] = []
        for (index, caption) in captions.enumerated() {
            if index > 0 { text.append(0x0A) }
            for unit in caption.utf16 {
                // pycocoevalcap replaces "\n"; the other line breaks would shift every later
                // caption onto the wrong image in the real tool, so here they are spaces too.
                text.append(PTBLexerRules.newlineClass.contains(unit) ? 0x20 : unit)
            }
        }
        var lines = PTBLexer.tokenize(text)
        if lines.count != captions.count {
            // No rule spans a line break, so this does not happen; should a rule ever do so, each
            // caption alone still gets its own tokens rather than its neighbour's.
            assertionFailure("the lexer returned \(lines.count) lines for \(captions.count) captions")
            lines = captions.map { caption in
                PTBLexer.tokenize(caption.utf16.map { PTBLexerRules.newlineClass.contains($0) ? 0x20 : $0 })
                    .flatMap { $0 }
            }
        }
        return lines.map { tokens in
            tokens.map(Self.lowercased)
                .filter { !Self.removedPunctuation.contains($0) }
                .joined(separator: " ")
        }
    }

    /// Java's `String.toLowerCase` on one token: full per-code-point mappings, plus the one
    /// context rule Java applies, Greek capital sigma at the end of a word → final sigma "ς".
    static func lowercased(_ token: String) -> String {
        if token.utf8.allSatisfy({ $0 < 0x80 }) {
            return String(decoding: token.utf8.map { (0x41...0x5A).contains($0) ? $0 + 0x20 : $0 }, as: UTF8.self)
        }
        let scalars = Array(token.unicodeScalars)
        var out = ""
        for (index, scalar) in scalars.enumerated() {
            if scalar == "\u{03A3}", isFinalSigma(at: index, in: scalars) {
                out += "\u{03C2}"
            } else {
                out += scalar.properties.lowercaseMapping
            }
        }
        return out
    }

    /// Java's final-sigma test: a cased letter before the sigma and none after it, looking only
    /// within the same word as the JDK's word `BreakIterator` draws it (letters other than
    /// ideographs and kana, digits, connector punctuation such as "_", ignorable marks, and
    /// dashes, apostrophes, quotes and periods between two letters, or `, . ' "` between two
    /// digits): "ΟΔΟΣ12" ends in "ς", "ΟΔΟΣ3D" and "ΑΣ-Β" do not, "X1.Σ" starts a new word.
    static func isFinalSigma(at index: Int, in scalars: [Unicode.Scalar]) -> Bool {
        func isWordLetter(_ scalar: Unicode.Scalar) -> Bool {
            let properties = scalar.properties
            if properties.isIdeographic || (0x3040...0x30FF).contains(scalar.value) { return false }
            switch properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
                 .spacingMark, .connectorPunctuation:
                return true
            default:
                return false
            }
        }
        func isDigit(_ scalar: Unicode.Scalar) -> Bool {
            switch scalar.properties.generalCategory {
            case .decimalNumber, .letterNumber, .otherNumber: return true
            default: return false
            }
        }
        func isIgnorable(_ scalar: Unicode.Scalar) -> Bool {
            switch scalar.properties.generalCategory {
            case .nonspacingMark, .enclosingMark, .format: return true
            default: return false
            }
        }
        func continuesWord(at i: Int) -> Bool {
            let scalar = scalars[i]
            if isWordLetter(scalar) || isDigit(scalar) || isIgnorable(scalar) { return true }
            guard i > 0, i + 1 < scalars.count else { return false }
            let (before, after) = (scalars[i - 1], scalars[i + 1])
            let midWord = scalar.properties.generalCategory == .dashPunctuation
                || ["\u{00AD}", "\u{2027}", "\"", "'", "."].contains(scalar)
            if midWord && isWordLetter(before) && isWordLetter(after) { return true }
            return [",", ".", "'", "\""].contains(scalar) && isDigit(before) && isDigit(after)
        }
        func casedInWord(_ range: some Sequence<Int>) -> Bool {
            for i in range {
                guard continuesWord(at: i) else { return false }
                if scalars[i].properties.isCased { return true }
            }
            return false
        }
        return casedInWord(stride(from: index - 1, through: 0, by: -1))
            && !casedInWord(index + 1..<scalars.count)
    }
}
