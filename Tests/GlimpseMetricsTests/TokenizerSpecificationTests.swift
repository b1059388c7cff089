import Testing
import GlimpseMetrics

/// What pycocoevalcap's tokenisation step does to a caption. Every expected string here was
/// produced by the real CoreNLP 3.4.1 jar through pycocoevalcap.
@Suite("PTBTokenizer: the tokenisation step of the COCO caption evaluation")
struct TokenizerSpecificationTests {
    let tokenizer = PTBTokenizer()

    @Test("Lower-cases and drops sentence punctuation, quotes and dashes", arguments: [
        ("A Dog Runs On The Beach.", "a dog runs on the beach"),
        ("Wait... what?! Yes -- no; maybe: ok.", "wait what ?! yes no maybe ok"),
        ("She said \"hello\" and 'bye'.", "she said hello and bye"),
        ("“Curly” quotes and ‘single’ ones, «angled» too.", "curly quotes and single ones angled too"),
        ("Really?!? Yes!!!", "really ?!? yes !!!"),
        ("A caption with ----- five hyphens.", "a caption with ----- five hyphens"),
    ])
    func punctuation(caption: String, expected: String) {
        #expect(tokenizer.tokenize(caption) == expected)
    }

    @Test("Keeps brackets as -lrb- etc.: the filter lists only the upper-case forms")
    func bracketsAreKept() {
        #expect(tokenizer.tokenize("A man (in a red shirt) [left] {note}.")
                == "a man -lrb- in a red shirt -rrb- -lsb- left -rsb- -lcb- note -rcb-")
    }

    @Test("Keeps low quotes „ as they are")
    func lowQuotesAreKept() {
        #expect(tokenizer.tokenize("„Low“ quotes stay.") == "„ low quotes stay")
    }

    @Test("Splits clitics and contractions the PTB way", arguments: [
        ("It's a dog's toy; they're here, we've gone, I'm in, you'll see, he'd go.",
         "it 's a dog 's toy they 're here we 've gone i 'm in you 'll see he 'd go"),
        ("Can't, won't, don't, shouldn't, ain't.", "ca n't wo n't do n't should n't ai n't"),
        ("I cannot go, I'm gonna go, wanna go, gotta go.", "i can not go i 'm gon na go wan na go got ta go"),
        ("'Tis o'clock, rock 'n' roll, the '90s, y'all.", "'t is o'clock rock 'n' roll the '90s y' all"),
    ])
    func contractions(caption: String, expected: String) {
        #expect(tokenizer.tokenize(caption) == expected)
    }

    @Test("Keeps hyphenated words, numbers and slashed pairs whole", arguments: [
        ("A black-and-white photo of a 2-year-old's e-mail.", "a black-and-white photo of a 2-year-old 's e-mail"),
        ("3,000 people, 1.5 hours, 12:30, .5 and -5.", "3,000 people 1.5 hours 12:30 .5 and -5"),
        ("5 1/2 cups and ½ cup.", "5\u{00A0}1/2 cups and 1/2 cup"),
        ("a/b and a*b here.", "a/b and a * b here"),
        ("$5, £5, €5, ¢5.", "$ 5 # 5 $ 5 cents 5"),
    ])
    func wordsAndNumbers(caption: String, expected: String) {
        #expect(tokenizer.tokenize(caption) == expected)
    }

    @Test("Keeps the period of abbreviations and acronyms")
    func abbreviations() {
        #expect(tokenizer.tokenize("Mr. Smith at the U.S. Capitol, e.g. here.") == "mr. smith at the u.s. capitol e.g. here")
    }

    @Test("Lower-cases any script and drops characters outside the BMP such as emoji")
    func nonASCII() {
        #expect(tokenizer.tokenize("Café naïve Zürich Ελλάδα ΟΔΟΣ Москва 日本語 한국어.")
                == "café naïve zürich ελλάδα οδος москва 日本語 한국어")
        #expect(tokenizer.tokenize("A dog 🐶 with a ❤️ and a ★.") == "a dog with a ❤ and a ★")
    }

    @Test("A caption's last token can depend on the next caption in the batch, as in the real tool")
    func batchContext() {
        // A one-letter acronym before a capitalised sentence starter loses its period.
        #expect(tokenizer.tokenize(["A photo by I.", "A dog."]) == ["a photo by i", "a dog"])
        #expect(tokenizer.tokenize(["A photo by I.", "the dog."]) == ["a photo by i.", "the dog"])
        #expect(tokenizer.tokenize("A photo by I.") == "a photo by i.")
    }

    @Test("Line breaks inside a caption are spaces; an empty caption stays empty")
    func lineBreaksAndEmptyCaptions() {
        #expect(tokenizer.tokenize(["two\nlines", "", "carriage\rreturn\u{2028}here"])
                == ["two lines", "", "carriage return here"])
    }
}
