/// The rules of Stanford CoreNLP 3.4.1's `PTBLexer.flex` that matter for captions, transcribed
/// in the specification's order (earlier rules win ties of equal length).
///
/// Names follow the specification's macros (`WORD`, `REDAUX`, `THING`, ...) so the two can be
/// read side by side. Where 3.4.1 behaves differently from later CoreNLP releases, the rule
/// follows what the 3.4.1 jar shipped with pycocoevalcap actually does; each such place says so.
enum PTBLexerRules {
    typealias P = LexerPattern

    // MARK: Character classes

    static let letterCategories: Set<Unicode.GeneralCategory> = [
        .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
    ]

    /// `[:letter:]`: Java's `Character.isLetter` on one UTF-16 code unit.
    static let javaLetter = UnitClass { unit in
        guard let scalar = unit.bmpScalar else { return false }
        return letterCategories.contains(scalar.properties.generalCategory)
    }
    /// `[:digit:]`: decimal digits (`Character.isDigit`).
    static let javaDigit = UnitClass { unit in
        guard let scalar = unit.bmpScalar else { return false }
        return scalar.properties.generalCategory == .decimalNumber
    }
    /// `[:uppercase:]`.
    static let javaUppercase = UnitClass { unit in
        unit.bmpScalar?.properties.generalCategory == .uppercaseLetter
    }
    /// Letters and digits of any script, as `THING` (hyphenated words) accepts them: the jar
    /// keeps "über-cool" whole.
    static let letterOrDigit = javaLetter | javaDigit
    /// ASCII letters: what 3.4.1's clitic contexts and slash/number compounds accept. The jar
    /// splits "they'reΕλλάδα" as "they 're ελλάδα" and "a/bnaïve" as "a/bna ïve".
    static let alpha = UnitClass("", ranges: [(0x41, 0x5A), (0x61, 0x7A)])
    static let alphaDigit = UnitClass("", ranges: [(0x41, 0x5A), (0x61, 0x7A), (0x30, 0x39)])

    /// Combining marks and letters that JFlex's `[:letter:]` of the time missed; listed in the
    /// specification's `LETTER` macro.
    static let letterExtras = UnitClass("\u{00AD}\u{0384}\u{0385}\u{03CF}\u{03F6}\u{04CF}\u{05BF}\u{05C1}\u{05C2}\u{05C4}\u{05C5}\u{05C7}\u{0670}\u{070F}\u{0711}\u{07FA}\u{093C}\u{09C7}\u{09C8}\u{09D7}\u{09E2}\u{09E3}\u{0A3C}\u{0B82}", ranges: [
        (0x0237, 0x024F), (0x02C2, 0x02C5), (0x02D2, 0x02DF), (0x02E5, 0x02FF), (0x0300, 0x036F),
        (0x0370, 0x037D), (0x03FC, 0x03FF), (0x0483, 0x0487), (0x04F6, 0x04FF), (0x0510, 0x0525),
        (0x055A, 0x055F), (0x0591, 0x05BD), (0x0615, 0x061A), (0x063B, 0x063F), (0x064B, 0x065E),
        (0x06D6, 0x06EF), (0x06FA, 0x06FF), (0x0730, 0x074F), (0x0750, 0x077F), (0x07A6, 0x07B1),
        (0x07CA, 0x07F5), (0x0900, 0x0903), (0x093E, 0x094E), (0x0951, 0x0955), (0x0962, 0x0963),
        (0x0981, 0x0983), (0x09BC, 0x09C4), (0x09CB, 0x09CD), (0x0A01, 0x0A03), (0x0A3E, 0x0A4F),
        (0x0A81, 0x0A83), (0x0ABC, 0x0ACF), (0x0BBE, 0x0BC2), (0x0BC6, 0x0BC8), (0x0BCA, 0x0BCD),
        (0x0C01, 0x0C03), (0x0C3E, 0x0C56), (0x0D3E, 0x0D44), (0x0D46, 0x0D48), (0x0E30, 0x0E3A),
        (0x0E47, 0x0E4E), (0x0EB1, 0x0EBC), (0x0EC8, 0x0ECD),
    ])
    static let digitClass = javaDigit | UnitClass("", ranges: [(0x07C0, 0x07C9)])

    static let spaceClass = UnitClass(" \t\u{00A0}\u{3000}", ranges: [(0x2000, 0x200A)])
    /// Line breaks of 3.4.1 (the jar treats U+0085 as a deletable character, not a line break).
    static let newlineClass = UnitClass("\r\n\u{2028}\u{2029}\u{000B}\u{000C}")
    static let spaceOrNewlineClass = spaceClass | newlineClass | UnitClass("\u{0085}")

    // MARK: Macros

    static let SPACE = spaceClass.pattern
    static let SPACES = SPACE.plus
    static let NEWLINE = P.any(P.seq(P.lit("\r").optional, P.lit("\n")), UnitClass("\r\u{2028}\u{2029}\u{000B}\u{000C}").pattern)
    static let SPACENL = P.any(SPACE, NEWLINE)
    static let SPACENLS = SPACENL.plus
    static let SPACENL_ONE_CHAR = spaceOrNewlineClass.pattern
    static let NOT_SPACENL_ONE_CHAR = spaceOrNewlineClass.inverted.pattern
    static let DIGIT = digitClass.pattern
    static let LETTER = P.any((javaLetter | letterExtras).pattern, SPLET)
    static let SPLET = P.seq(P.lit("&"), UnitClass("aeiouAEIOU").pattern, P.anyLiteral(["acute", "grave", "uml"]), P.lit(";"))
    static let sgmlName = P.seq(UnitClass("", ranges: [(0x41, 0x5A), (0x61, 0x7A)]).pattern,
                                UnitClass("_:.-", ranges: [(0x41, 0x5A), (0x61, 0x7A), (0x30, 0x39)]).pattern.star)
    /// Simple tags on one line: `<b>`, `</b>`, `<a href="x">`, `<!DOCTYPE ...>`. Not `<i«...>`.
    static let SGML = P.seq(P.lit("<"), P.any(
        P.seq(UnitClass("!?").pattern, UnitClass("-", ranges: [(0x41, 0x5A), (0x61, 0x7A)]).pattern,
              UnitClass(">\r\n").inverted.pattern.star),
        P.seq(sgmlName,
              P.seq(P.lit(" ").plus, P.any(sgmlName, P.seq(sgmlName, P.lit(" ").star, P.lit("="), P.lit(" ").star,
                                                         P.any(P.seq(P.lit("'"), UnitClass("'\r\n").inverted.pattern.star, P.lit("'")),
                                                               P.seq(P.lit("\""), UnitClass("\"\r\n").inverted.pattern.star, P.lit("\"")),
                                                               sgmlName)))).star,
              P.lit(" ").star, P.lit("/").optional),
        P.seq(P.lit("/"), sgmlName)), P.lit(" ").star, P.lit(">"))
    static let SENTEND = P.seq(SPACENL, P.any(SPACENL, javaUppercase.pattern, SGML))
    static let SPMDASH = P.any(P.seq(P.lit("&"), P.anyLiteral(["MD", "mdash", "ndash"]), P.lit(";")),
                               UnitClass("\u{0096}\u{0097}\u{2013}\u{2014}\u{2015}").pattern)
    static let SPAMP = P.lit("&amp;")
    static let SPPUNC = P.seq(P.lit("&"), P.any(P.anyLiteral(["HT", "TL", "UR", "LR", "QC", "QL", "QR", "odq", "cdq"]),
                                                 P.seq(P.lit("#"), UnitClass("0123456789").pattern.plus)), P.lit(";"))
    static let DATE = P.seq(DIGIT.times(1, 2), UnitClass("-/").pattern, DIGIT.times(1, 2), UnitClass("-/").pattern, DIGIT.times(2, 4))
    static let NUM = P.any(
        // 3.4.1 also lets a number start with ":" (":30" is one token).
        P.seq(DIGIT.star, P.seq(UnitClass(".:,\u{066B}\u{066C}").pattern, DIGIT.plus).plus),
        P.seq(DIGIT.plus, P.seq(UnitClass(".:,\u{00AD}\u{066B}\u{066C}\u{2009}\u{202F}").pattern, DIGIT.plus).star))
    static let NUMBER = P.seq(UnitClass("-+").pattern.optional, NUM)
    static let SUBSUPNUM = P.seq(UnitClass("\u{207A}\u{207B}\u{208A}\u{208B}").pattern.optional,
                                 P.any(UnitClass("\u{2070}\u{00B9}\u{00B2}\u{00B3}", ranges: [(0x2074, 0x2079)]).pattern.plus,
                                       UnitClass("", ranges: [(0x2080, 0x2089)]).pattern.plus))
    static let FRAC = P.seq(P.seq(DIGIT.times(1, 4), UnitClass("- \u{00A0}").pattern).optional, DIGIT.times(1, 4),
                            P.any(P.seq(P.lit("\\").optional, P.lit("/")), P.lit("\u{2044}")), DIGIT.times(1, 4))
    static let FRAC2 = UnitClass("\u{00BC}\u{00BD}\u{00BE}", ranges: [(0x2153, 0x215E)]).pattern
    static let DOLSIGN = P.any(P.seq(UnitClass("", ranges: [(0x41, 0x5A)]).pattern.star, P.lit("$")), P.lit("#"))
    static let DOLSIGN2 = UnitClass("\u{00A2}\u{00A3}\u{00A4}\u{00A5}\u{0080}\u{20A0}\u{20AC}\u{060B}\u{0E3F}\u{20A4}\u{FFE0}\u{FFE1}\u{FFE5}\u{FFE6}").pattern
    static let WORD_BODY = P.any(LETTER, DIGIT).star
    static let WORD = P.seq(LETTER, WORD_BODY, P.seq(UnitClass(".!?").pattern, LETTER, WORD_BODY).star)
    static let FILENAME_EXT = P.anyLiteral(["bat", "bmp", "bz2", "c", "class", "cgi", "cpp", "dll", "doc", "docx", "exe", "gif",
                                            "gz", "h", "htm", "html", "jar", "java", "jpeg", "jpg", "mov", "mp3", "pdf", "php",
                                            "pl", "png", "ppt", "ps", "py", "sql", "tar", "txt", "wav", "x", "xml", "zip"])
    /// Parts joined by periods only in 3.4.1: "4photo.jpg" is one token, "file-1.txt" and
    /// "a/bD.C." are not.
    static let FILENAME = P.seq(alphaDigit.pattern.plus, P.seq(P.lit("."), alphaDigit.pattern.plus).star,
                                P.lit("."), FILENAME_EXT)
    static let HYPHEN = UnitClass("-_\u{058A}\u{2010}\u{2011}").pattern
    static let HYPHENS = P.lit("-").plus
    static let APOS = P.any(UnitClass("'\u{0092}\u{2019}").pattern, P.lit("&apos;"))
    static let APOSETCETERA = P.any(APOS, UnitClass("`\u{0091}\u{2018}\u{201B}").pattern)
    static let THING_PREFIX = P.seq(UnitClass("dDoOlL").pattern, APOSETCETERA, letterOrDigit.pattern).optional
    /// 3.4.1's `THING` has no signed or decimal numbers in it ("@user12-05-2020" → "@user12 -05 -2020").
    static let THING = P.seq(THING_PREFIX, letterOrDigit.pattern.plus,
                             P.seq(HYPHEN, THING_PREFIX, letterOrDigit.pattern.plus).star)
    static let upperASCII = UnitClass("", ranges: [(0x41, 0x5A)]).pattern
    static let THINGA = P.seq(upperASCII.plus, P.seq(P.any(UnitClass("+&").pattern, SPAMP), upperASCII.plus).plus)
    static let THING3 = P.seq(alphaDigit.pattern.plus, P.seq(P.lit("-"), alpha.pattern.plus).times(0, 2),
                              P.seq(P.lit("\\").optional, P.lit("/"), alphaDigit.pattern.plus,
                                    P.seq(P.lit("-"), alpha.pattern.plus).times(0, 2)).times(1, 2))
    static let ACRO = P.any(P.seq(UnitClass("", ranges: [(0x41, 0x5A), (0x61, 0x7A)]).pattern,
                                  P.seq(P.lit("."), UnitClass("", ranges: [(0x41, 0x5A), (0x61, 0x7A)]).pattern).star),
                            P.seq(P.anyLiteral(["Canada", "Sino", "Korean", "EU", "Japan", "non"]), P.lit("-U.S")),
                            P.seq(P.lit("U.S.-"), P.anyLiteral(["U.K", "U.S.S.R"])))
    static let ACRO2 = P.any(P.seq(UnitClass("", ranges: [(0x41, 0x5A), (0x61, 0x7A)]).pattern,
                                   P.seq(P.lit("."), UnitClass("", ranges: [(0x41, 0x5A), (0x61, 0x7A)]).pattern).plus),
                             P.seq(P.anyLiteral(["Canada", "Sino", "Korean", "EU", "Japan", "non"]), P.lit("-U.S")),
                             P.seq(P.lit("U.S.-"), P.anyLiteral(["U.K", "U.S.S.R"])))
    static let HTHING = P.seq(alphaDigit.pattern, (alphaDigit | UnitClass(".,\u{00AD}")).pattern.star,
                              // No decimal part after a hyphen in 3.4.1: "x-ray.5" → "x-ray" ".5".
                              P.seq(P.lit("-"), P.any((alphaDigit | UnitClass("\u{00AD}")).pattern.plus,
                                                      P.seq(ACRO2, P.lit(".")))).plus)
    static let REDAUX = P.seq(APOS, P.any(UnitClass("msdMSD").pattern, P.lit("re"), P.lit("ve"), P.lit("ll")))
    /// ASCII letters only in 3.4.1: "Zürichain't" is not split before "n't".
    static let SWORD = P.seq(UnitClass("\u{00AD}", ranges: [(0x41, 0x5A), (0x61, 0x7A)]).pattern.star,
                             UnitClass("", ranges: [(0x41, 0x4D), (0x4F, 0x5A), (0x61, 0x6D), (0x6F, 0x7A)]).pattern,
                             P.lit("\u{00AD}").star)
    static let SREDAUX = P.seq(P.lit("n"), APOSETCETERA, P.lit("t"))
    static let letterPattern = javaLetter.pattern
    /// 3.4.1 has no `cont'd` alternative (the jar splits it into `cont 'd`).
    static let APOWORD = P.any(
        P.seq(APOS, P.lit("n"), APOS.optional),
        P.seq(UnitClass("lLdDjJ").pattern, APOS),
        P.seq(P.lit("Dunkin"), APOS), P.seq(P.lit("somethin"), APOS), P.seq(P.lit("ol"), APOS),
        P.seq(APOS, P.lit("em")),
        P.seq(P.lit("diff"), APOSETCETERA, P.lit("rent")),
        P.seq(UnitClass("n", ranges: [(0x41, 0x48), (0x4A, 0x58), (0x5A, 0x5A)]).pattern, APOSETCETERA,
              letterPattern, letterPattern, letterPattern.star),
        P.seq(APOS, UnitClass("23456789").pattern, P.lit("0s")),
        P.seq(APOS, P.lit("til"), P.lit("l").optional),
        P.seq(letterPattern, letterPattern.star, UnitClass("aeiouyAEIOUY").pattern, APOSETCETERA,
              UnitClass("aeiou", ranges: [(0x41, 0x5A)]).pattern, letterPattern.star),
        P.seq(APOS, P.lit("cause")),
        P.seq(P.lit("cont'd"), P.lit(".").optional),
        P.anyLiteral(["nor'easter", "c'mon", "e'er", "s'mores", "ev'ry", "li'l", "nat'l"]),
        P.seq(P.lit("O"), APOSETCETERA, P.lit("o")))
    static let APOWORD2 = P.seq(P.lit("y"), APOS)
    static let urlBody = UnitClass(" \t\n\u{000C}\r\"<>|(){}[]").inverted
    static let FULLURL = P.seq(P.anyLiteral(["ftp", "svn", "svn+ssh", "http", "https", "mailto"]), P.lit("://"),
                               urlBody.pattern.plus, UnitClass(" \t\n\u{000C}\r\"'<>|.!?(){},;:&[]-").inverted.pattern)
    static let LIKELYURL = P.seq(
        P.any(P.seq(P.lit("www."), P.seq(UnitClass(" \t\n\u{000C}\r\"<>|.!?(){},").inverted.pattern.plus, P.lit(".")).plus,
                    UnitClass("", ranges: [(0x41, 0x5A), (0x61, 0x7A)]).pattern.times(2, 4)),
              // ",-_" in the specification's class is the range U+002C...U+005F (digits, capitals, "@").
              P.seq(P.seq(UnitClass(" \t\n\u{000C}\r\"`'<>|.!?(){}$", ranges: [(0x2C, 0x5F)]).inverted.pattern.plus, P.lit(".")).plus,
                    P.anyLiteral(["com", "net", "org", "edu"]))),
        P.seq(P.lit("/"), UnitClass(" \t\n\u{000C}\r\"<>|()").inverted.pattern.plus,
              UnitClass(" \t\n\u{000C}\r\"<>|.!?(){},-").inverted.pattern).optional)
    /// The older, looser e-mail pattern of 3.4.1: after the "@" anything but spaces, round and
    /// curly brackets, quotes and `<>|` belongs to the address ("zC@]" and "af@vc€£:ke" are one token).
    static let EMAIL = P.seq(P.any(P.lit("&lt;"), P.lit("<")).optional,
                             UnitClass("", ranges: [(0x41, 0x5A), (0x61, 0x7A), (0x30, 0x39)]).pattern,
                             UnitClass(" \t\n\u{000C}\r\"<>|()\u{00A0}{}").inverted.pattern.star, P.lit("@"),
                             P.seq(UnitClass(" \t\n\u{000C}\r\"<>|(){}.\u{00A0}").inverted.pattern.plus, P.lit(".")).star,
                             UnitClass(" \t\n\u{000C}\r\"<>|(){}.\u{00A0}").inverted.pattern.plus,
                             P.any(P.lit("&gt;"), P.lit(">")).optional)
    static let TWITTER = P.any(
        P.seq(UnitClass("@\u{FF20}").pattern, UnitClass("_", ranges: [(0x41, 0x5A), (0x61, 0x7A)]).pattern,
              UnitClass("_", ranges: [(0x41, 0x5A), (0x61, 0x7A), (0x30, 0x39)]).pattern.star),
        // Hashtags are letters only in 3.4.1: "#tag2" → "#tag 2".
        P.seq(UnitClass("#\u{FF03}").pattern, LETTER.plus))

    // Abbreviations. Lists of 3.4.1: no "approx", "vol" or the So./No. place rule (the jar
    // splits "approx. 5" and "So. Africa").
    static let ABMONTH = P.anyLiteral(["Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec"])
    static let ABDAYS = P.anyLiteral(["Mon", "Tue", "Tues", "Wed", "Thu", "Thurs", "Fri"])
    static let ABSTATE = P.any(P.anyLiteral(["Ala", "Ariz", "Calif", "Colo", "Conn", "Ct", "Dak", "Fla", "Ga", "Ind", "Kan", "Kans",
                                             "Ky", "Md", "Mich", "Minn", "Mo", "Mont", "Neb", "Nev", "Okla", "Penn", "Tenn",
                                             "Va", "Vt", "Wis", "Wisc", "Wyo"]),
                               caseSensitiveInitial("A", "z"), caseSensitiveInitial("A", "rk"), caseSensitiveInitial("D", "el"),
                               caseSensitiveInitial("I", "ll"), caseSensitiveInitial("L", "a"), caseSensitiveInitial("M", "ass"),
                               caseSensitiveInitial("M", "iss"), caseSensitiveInitial("O", "re"), caseSensitiveInitial("P", "a"),
                               caseSensitiveInitial("T", "ex"), caseSensitiveInitial("W", "ash"))
    static let ABCOMP = P.any(P.anyLiteral(["Inc", "Co", "Cos", "Corp", "Ltd", "Plc", "Rt", "Bancorp", "Bhd", "Assn", "Univ", "Intl", "Sys"]),
                              P.seq(P.lit("P"), P.lit("p").optional, P.lit("t"), UnitClass("ye").pattern, P.lit("s").optional))
    static let ABNUM = P.anyLiteral(["tel", "est", "ext", "sq"])
    static let ABPTIT = P.any(P.anyLiteral(["Jr", "Bros", "Esq"]), P.seq(P.anyLiteral(["Ed", "Ph"]), P.lit(".D")))
    static let ABBREV1 = P.seq(P.any(ABMONTH, ABDAYS, ABSTATE, ABCOMP, ABNUM, ABPTIT,
                                     P.anyLiteral(["etc", "al", "seq", "Bldg"])), P.lit("."))
    static let ABTITLE = P.any(P.anyLiteral(["Mr", "Mrs", "Ms", "Mx", "Dr", "Drs", "Prof", "Profs", "Sen", "Sens", "Rep", "Reps",
                                             "Atty", "Attys", "Lt", "Col", "Gen", "Messrs", "Gov", "Govs", "Adm", "Rev", "Maj",
                                             "Sgt", "Cpl", "Pvt", "Capt", "St", "Ste", "Ave", "Pres", "Lieut", "Rt", "Hon", "Brig",
                                             "Cmdr", "Comdr", "Pfc", "Spc", "Supt", "Supts", "Det", "Mt", "Ft", "Adj", "Adv", "Asst",
                                             "Assoc", "Ens", "Insp", "Mlle", "Mme", "Msgr", "Sfc", "Sr"]),
                               caseSensitiveInitial("M", "iss"))
    static let ABCOMP2 = P.anyLiteral(["Invt", "Elec", "Natl", "Mfg", "Mtg", "Dept", "Blvd", "Rd", "Ave"])
    static let ABBREV4 = P.any(ABTITLE, P.lit("vs"), UnitClass("v").pattern,
                               P.anyLiteral(["Alex", "Wm", "Jos", "Cie", "a.k.a", "cf", "TREAS", "Ph"]), ACRO, ABCOMP2)
    static let ABBREV2 = P.seq(ABBREV4, P.lit("."))
    static let ACRONYM = P.seq(ACRO, P.lit("."))
    static let ABBREV3 = P.seq(P.any(P.anyLiteral(["ca", "fig", "figs", "prop", "no", "nos", "sec", "sect", "secs", "sects", "art", "arts",
                                                   "para", "paras", "bldg", "pp", "op", "rs"]),
                                     P.seq(UnitClass("P").pattern, UnitClass("t").pattern)), P.lit("."))
    /// Words after which an acronym's period also ends the sentence; their capitals are
    /// case-sensitive in the specification (`[A]bout`, `[T]he`, ...).
    static let SENTENCE_STARTERS = P.any(
        caseSensitiveInitial("A", "bout"), caseSensitiveInitial("A", "ccording"), caseSensitiveInitial("A", "dditionally"),
        caseSensitiveInitial("A", "fter"), caseSensitiveInitial("A", "n"), UnitClass("A").pattern, caseSensitiveInitial("A", "s"),
        caseSensitiveInitial("A", "t"), caseSensitiveInitial("B", "ut"), caseSensitiveInitial("D", "id"),
        caseSensitiveInitial("D", "uring"), caseSensitiveInitial("E", "arlier"), caseSensitiveInitial("H", "e"),
        caseSensitiveInitial("H", "er"), caseSensitiveInitial("H", "ere"), caseSensitiveInitial("H", "ow"),
        caseSensitiveInitial("H", "owever"), caseSensitiveInitial("I", "f"), caseSensitiveInitial("I", "n"),
        caseSensitiveInitial("I", "t"), caseSensitiveInitial("L", "ast"), caseSensitiveInitial("M", "any"),
        caseSensitiveInitial("M", "ore"), caseSensitiveInitial("M", "r."), caseSensitiveInitial("M", "s."),
        caseSensitiveInitial("N", "ow"), caseSensitiveInitial("O", "nce"), caseSensitiveInitial("O", "ne"),
        caseSensitiveInitial("O", "ther"), caseSensitiveInitial("O", "ur"), caseSensitiveInitial("S", "he"),
        caseSensitiveInitial("S", "ince"), caseSensitiveInitial("S", "o"), caseSensitiveInitial("S", "ome"),
        caseSensitiveInitial("S", "uch"), caseSensitiveInitial("T", "hat"), caseSensitiveInitial("T", "he"),
        caseSensitiveInitial("T", "heir"), caseSensitiveInitial("T", "hen"), caseSensitiveInitial("T", "here"),
        caseSensitiveInitial("T", "hese"), caseSensitiveInitial("T", "hey"), caseSensitiveInitial("T", "his"),
        caseSensitiveInitial("W", "e"), caseSensitiveInitial("W", "hen"), caseSensitiveInitial("W", "hile"),
        caseSensitiveInitial("W", "hat"), caseSensitiveInitial("W", "ho"), caseSensitiveInitial("W", "hy"),
        caseSensitiveInitial("Y", "et"), caseSensitiveInitial("Y", "ou"), SGML)
    static let PHONE = P.any(
        P.seq(P.any(P.seq(P.lit("("), asciiDigit.times(2, 3), P.lit(")"), UnitClass(" \u{00A0}").pattern.optional),
                    P.seq(P.seq(P.lit("+"), P.lit("+").optional).optional,
                          P.seq(asciiDigit.times(2, 4), UnitClass("- \u{00A0}").pattern).optional,
                          asciiDigit.times(2, 4), UnitClass("- \u{00A0}").pattern)),
              asciiDigit.times(3, 4), UnitClass("- \u{00A0}").pattern.optional, asciiDigit.times(3, 5)),
        P.seq(P.seq(P.seq(P.lit("+"), P.lit("+").optional).optional, asciiDigit.times(2, 4), P.lit(".")).optional,
              asciiDigit.times(2, 4), P.lit("."), asciiDigit.times(3, 4), P.lit("."), asciiDigit.times(3, 5)))
    static let asciiDigit = UnitClass("0123456789").pattern
    static let LDOTS = P.any(P.seq(P.lit("..."), P.lit(".").star), UnitClass("\u{2026}").pattern)
    static let SPACEDLDOTS = P.seq(P.lit("."), UnitClass(" \u{00A0}").pattern,
                                   P.seq(P.lit("."), UnitClass(" \u{00A0}").pattern).plus, P.lit("."))
    static let FNMARKS = P.any(P.lit("@").plus, P.lit("#").plus, P.lit("_").plus)
    static let ASTS = P.any(P.lit("*").plus, P.lit("\\*").times(1, 3))
    static let INSENTP = UnitClass(",;:\u{3001}").pattern
    static let QUOTES = P.any(APOS, UnitClass("`\u{0082}\u{0084}\u{00AB}\u{00BB}\u{2039}\u{203A}",
                                              ranges: [(0x2018, 0x201F), (0x0091, 0x0094)]).pattern.times(1, 2))
    /// The quotes that the "probably left" rules accept in 3.4.1: not a lone right single quote,
    /// so "’Sa" splits as "’S" (a clitic) + "a", while "'Sa" gives "`" + "Sa".
    static let LEFT_QUOTES = P.any(P.lit("'"), P.lit("&apos;"),
                                   UnitClass("`\u{0082}\u{0084}\u{00AB}\u{00BB}\u{2039}\u{203A}\u{0091}\u{0093}\u{0094}\u{2018}",
                                             ranges: [(0x201A, 0x201F)]).pattern,
                                   UnitClass("`\u{0082}\u{0084}\u{00AB}\u{00BB}\u{2039}\u{203A}",
                                             ranges: [(0x2018, 0x201F), (0x0091, 0x0094)]).pattern.times(2, 2))
    /// No curly quote + apostrophe pairs in 3.4.1: "‘'em" → "‘" "'em".
    static let DBLQUOT = P.any(P.lit("\""), P.lit("&quot;"), P.seq(UnitClass("`'").pattern, P.lit("'")))
    static let TBSPEC = P.any(P.seq(P.lit("-"), P.anyLiteral(["RRB", "LRB", "RCB", "LCB", "RSB", "LSB"]), P.lit("-")),
                              P.lit("C.D.s"), P.lit("pro-"), P.lit("anti-"),
                              P.seq(P.lit("S"), P.any(P.lit("&"), SPAMP), P.lit("P-500")),
                              P.seq(P.lit("S"), P.any(P.lit("&"), SPAMP), P.lit("Ls")),
                              P.seq(P.lit("Cap"), APOS, P.lit("n")), P.seq(P.lit("c"), APOS, P.lit("est")))
    static let TBSPEC2 = P.seq(APOS, asciiDigit, asciiDigit)
    static let SMILEY = P.seq(UnitClass("<>").pattern.optional, UnitClass(":;=").pattern, UnitClass("-o*'").pattern.optional,
                              UnitClass("()DPdpO\\{@|[]").pattern)
    /// Asian smileys such as `^_^`, `~_~`, `(^.^)`.
    static let ASIANSMILEY = P.any(
        P.seq(UnitClass("-^x=~<>'").pattern, P.lit("_"), UnitClass("-^x=~<>'").pattern),
        P.seq(P.lit("("), UnitClass("-^x=~<>'").pattern, UnitClass("_.").pattern.optional, UnitClass("-^x=~<>'").pattern, P.lit(")")),
        P.seq(P.lit("("), UnitClass("^x=~<>'").pattern, P.lit("-"), UnitClass("^x=~<>'`").pattern, P.lit(")")))
    static let PROG_LANGS = P.anyLiteral(["c++", "c#", "f#"])  // caseless in 3.4.1: "C#" stays whole
    /// Only the straight apostrophe in 3.4.1: "’tis" → "' tis".
    static let ASSIMILATIONS3 = P.any(P.lit("cannot"), P.lit("'twas"))
    static let ASSIMILATIONS2 = P.any(P.lit("'tis"), P.anyLiteral(["gonna", "gotta", "lemme", "gimme", "wanna"]))
    static let MISCSYMBOL = UnitClass("+%&~^|\\\u{00A6}\u{00A7}\u{00A8}\u{00A9}\u{00AC}\u{00AE}\u{00AF}\u{00D7}\u{00F7}\u{0387}\u{05BE}\u{05C0}\u{05C3}\u{05C6}\u{05F3}\u{05F4}\u{060C}\u{0614}\u{061B}\u{061E}\u{066A}\u{066D}\u{07F6}\u{07F7}\u{07F8}\u{0964}\u{0965}\u{0E4F}\u{1FBD}\u{2016}\u{2017}\u{203B}\u{203C}\u{2043}\u{2044}\u{30FB}", ranges: [
        (0x00B0, 0x00BA), (0x0600, 0x0603), (0x0606, 0x060A), (0x0703, 0x070D), (0x2020, 0x2025), (0x2030, 0x2038),
        (0x203E, 0x2042), (0x207A, 0x207F), (0x208A, 0x208E), (0x2100, 0x214F), (0x2190, 0x21FF), (0x2200, 0x2BFF),
        (0x3001, 0x3006), (0x3008, 0x3020), (0xFF01, 0xFF0F), (0xFF1A, 0xFF20), (0xFF3B, 0xFF40), (0xFF5B, 0xFF65),
    ]).pattern

    /// A word whose first letter must have exactly this case (a one-letter class such as `[A]`)
    /// while the rest is caseless.
    static func caseSensitiveInitial(_ initial: Character, _ rest: String) -> P {
        P.seq(UnitClass(String(initial)).pattern, P.lit(rest))
    }

    // MARK: Rules

    /// What a rule does with the text it matched.
    enum Action: Sendable {
        /// Emit the matched text as it is.
        case token
        /// Emit the matched text without soft hyphens (U+00AD), as 3.4.1 does for words.
        case word
        /// Emit a fixed string in place of the matched text.
        case replace(String)
        /// Emit the match minus its last `n` code units, which are scanned again
        /// (`cannot` → `can` + `not`, `gonna` → `gon` + `na`).
        case pushBack(Int)
        /// `processAcronym`: a one-letter acronym gives the letter and then its period;
        /// longer ones keep their period and the period is given again as a sentence end.
        case acronym
        /// `processAbbrev1`: keep the period and give it again as a sentence end.
        case abbreviationEndingSentence
        /// Quotes and apostrophes through `latexQuotes`; `probablyLeft` picks `` ` `` over `'`.
        case quotes(probablyLeft: Bool)
        /// A number: soft hyphens and thin-space thousands separators removed.
        case number
        /// Spaces become non-breaking spaces so that the token stays one token (fractions, phone numbers).
        case keepSpaces
        /// Phone numbers: spaces kept as non-breaking, round brackets escaped.
        case phone
        /// `-LRB-`-style escapes inside a smiley.
        case smiley
        /// Three or four hyphens are a dash `--`; other runs stay as they are.
        case hyphens
        /// U+00BC and friends spelled out as `1/4`.
        case fraction
        /// Currency symbols normalised (cent → `cents`, pound → `#`, euro → `$`).
        case currency
        /// Whitespace and other characters that produce no token.
        case skip
        case newline
    }

    struct Rule: Sendable {
        let pattern: LexerPattern
        /// JFlex trailing context (`pattern/trailing`): must follow, is not consumed, but counts
        /// for the longest match.
        let trailing: LexerPattern?
        let action: Action
        init(_ pattern: LexerPattern, _ trailing: LexerPattern, _ action: Action) {
            self.pattern = pattern
            self.trailing = trailing
            self.action = action
        }
        init(_ pattern: LexerPattern, _ action: Action) {
            self.pattern = pattern
            self.trailing = nil
            self.action = action
        }
    }

    static let notAlpha = alpha.inverted.pattern

    static let rules: [Rule] = [
        Rule(PROG_LANGS, .token),
        Rule(ASSIMILATIONS3, .pushBack(3)),
        Rule(ASSIMILATIONS2, .pushBack(2)),
        Rule(SGML, .keepSpaces),
        Rule(SPMDASH, .replace("--")),
        Rule(SPAMP, .replace("&")),
        Rule(SPPUNC, .token),
        Rule(WORD, REDAUX, .word),
        Rule(SWORD, SREDAUX, .word),
        Rule(WORD, .word),
        // 3.4.1 keeps the apostrophe of these words as typed: "o’clock", "’cause".
        Rule(APOWORD, .token),
        Rule(APOWORD2, letterPattern, .token),
        Rule(FULLURL, .token),
        Rule(LIKELYURL, .token),
        Rule(EMAIL, .token),
        Rule(TWITTER, .token),
        Rule(REDAUX, notAlpha, .quotes(probablyLeft: false)),
        Rule(SREDAUX, notAlpha, .quotes(probablyLeft: false)),
        Rule(DATE, .token),
        Rule(NUMBER, .number),
        Rule(SUBSUPNUM, .token),
        Rule(FRAC, .keepSpaces),
        Rule(FRAC2, .fraction),
        Rule(TBSPEC, .token),
        Rule(THING3, .token),
        Rule(DOLSIGN, .token),
        Rule(DOLSIGN2, .currency),
        Rule(ACRONYM, P.seq(SPACENLS, SENTENCE_STARTERS, P.any(SPACENL, UnitClass("?!").pattern)), .acronym),
        Rule(ABBREV3, P.seq(SPACENL.optional, javaDigit.pattern), .token),
        Rule(P.seq(P.any(P.seq(P.lit("pt"), UnitClass("eyEY").pattern), P.lit("co")), P.lit(".")),
             P.seq(SPACE, P.anyLiteral(["ltd", "lim"])), .token),
        Rule(ABBREV1, SENTEND, .abbreviationEndingSentence),
        Rule(ABBREV1, P.seq(UnitClass { _ in true }.pattern, UnitClass { _ in true }.pattern), .token),
        Rule(ABBREV1, .abbreviationEndingSentence),
        Rule(ABBREV2, .token),
        Rule(ABBREV4, SPACE, .token),
        Rule(ACRO, SPACENL, .token),
        Rule(TBSPEC2, SPACENL, .token),
        Rule(FILENAME, P.any(SPACENL, UnitClass(".?!,\"'<").pattern), .token),
        Rule(P.seq(WORD, P.lit(".")), INSENTP, .word),
        Rule(PHONE, .phone),
        Rule(DBLQUOT, P.any(alphaDigit.pattern, P.lit("$")), .quotes(probablyLeft: true)),
        Rule(DBLQUOT, .quotes(probablyLeft: false)),
        Rule(P.lit("\u{007F}"), .skip),
        Rule(P.any(P.lit("<"), P.lit("&lt;")), .replace("<")),
        Rule(P.any(P.lit(">"), P.lit("&gt;")), .replace(">")),
        Rule(SMILEY, alphaDigit.inverted.pattern, .smiley),
        Rule(ASIANSMILEY, .smiley),
        Rule(P.lit("{"), .replace("-LCB-")),
        Rule(P.lit("}"), .replace("-RCB-")),
        Rule(P.lit("["), .replace("-LSB-")),
        Rule(P.lit("]"), .replace("-RSB-")),
        Rule(P.lit("("), .replace("-LRB-")),
        Rule(P.lit(")"), .replace("-RRB-")),
        Rule(HYPHENS, .hyphens),
        Rule(LDOTS, P.seq(P.lit("."), SPACENLS, letterPattern), .replace("...")),
        Rule(SPACEDLDOTS, P.seq(SPACE, P.lit("."), SPACENLS, letterPattern), .replace("...")),
        Rule(P.any(LDOTS, SPACEDLDOTS), .replace("...")),
        Rule(FNMARKS, .token),
        Rule(ASTS, .token),
        Rule(INSENTP, .token),
        Rule(UnitClass("?!").pattern.plus, .token),
        Rule(UnitClass(".\u{00A1}\u{00BF}\u{037E}\u{0589}\u{061F}\u{06D4}\u{07FA}\u{3002}", ranges: [(0x0700, 0x0702)]).pattern, .token),
        Rule(P.lit("="), .token),  // one at a time in 3.4.1: "==" → "= ="
        Rule(P.lit("/"), .token),
        Rule(HTHING, .word),
        Rule(P.seq(HTHING, P.lit(".")), INSENTP, .word),
        // 3.4.1 still has this rule (later releases dropped it): "3.:" → "3." ":".
        Rule(P.seq(THING, P.lit(".")), INSENTP, .word),
        Rule(THING, .word),
        Rule(P.seq(THINGA, P.lit(".")), INSENTP, .token),
        Rule(THINGA, .token),
        Rule(LEFT_QUOTES, P.seq(letterPattern, NOT_SPACENL_ONE_CHAR), .quotes(probablyLeft: true)),
        Rule(LEFT_QUOTES, P.seq(UnitClass("AaIiUu").pattern, SPACENL_ONE_CHAR), .quotes(probablyLeft: true)),
        Rule(QUOTES, .quotes(probablyLeft: false)),
        Rule(REDAUX, .quotes(probablyLeft: false)),
        Rule(SREDAUX, .quotes(probablyLeft: false)),
        Rule(P.any(P.lit("<<"), P.lit(">>")), .token),
        Rule(MISCSYMBOL, .token),
        Rule(P.any(P.lit("\u{0000}"), SPACES, UnitClass("\u{200B}\u{200E}\u{200F}\u{FEFF}\u{0085}").pattern), .skip),
        Rule(NEWLINE, .newline),
        Rule(P.lit("&nbsp;"), .skip),
    ]
}
