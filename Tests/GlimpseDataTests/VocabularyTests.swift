import GlimpseData
import Testing
import GlimpseText

@Suite("Tokenising captions and building the vocabulary")
struct VocabularyTests {
    @Test("lowercase words of letters and digits", arguments: [
        ("A dog's ball, 2 times!", ["a", "dog", "s", "ball", "2", "times"]),
        ("  Black-and-white   PHOTO.  ", ["black", "and", "white", "photo"]),
        ("Café CRÈME 3rd", ["café", "crème", "3rd"]),
        ("", []),
        ("?!...", []),
    ])
    func tokenize(_ caption: String, _ expected: [String]) {
        #expect(CaptionTokenizer.tokenize(caption) == expected)
    }

    @Test("special tokens first, then by descending count, ties alphabetical")
    func ordering() throws {
        let captions = [["b", "a", "c"], ["a", "c"], ["a", "d"], ["e"]]
        let vocabulary = Vocabulary.build(from: captions)
        #expect(vocabulary.tokens == ["<pad>", "<start>", "<end>", "<unk>", "a", "c", "b", "d", "e"])
        #expect(Vocabulary.padID == 0 && Vocabulary.startID == 1 && Vocabulary.endID == 2 && Vocabulary.unknownID == 3)
    }

    @Test("minimum count and maximum size")
    func limits() {
        let captions = [["a", "a", "a", "b", "b", "c"]]
        #expect(Vocabulary.build(from: captions, minimumCount: 2).tokens.dropFirst(4) == ["a", "b"])
        #expect(Vocabulary.build(from: captions, maximumSize: 5).tokens.dropFirst(4) == ["a"])
    }

    @Test("encoding maps unknown words to <unk>; decoding stops at <end>")
    func encodeDecode() {
        let vocabulary = Vocabulary.build(from: [["a", "dog"]])
        #expect(vocabulary.encode(["a", "cat", "dog"]) == [vocabulary.id(of: "a"), Vocabulary.unknownID, vocabulary.id(of: "dog")])
        #expect(vocabulary.decode([Vocabulary.startID, vocabulary.id(of: "a"), Vocabulary.endID, vocabulary.id(of: "dog")]) == ["a"])
    }

    @Test("the vocab file format round-trips and rejects bad files")
    func fileFormat() throws {
        let vocabulary = Vocabulary.build(from: [["x", "y"]])
        #expect(try Vocabulary(fileContents: vocabulary.fileContents) == vocabulary)
        #expect(throws: VocabularyError.missingSpecialTokens(found: ["a", "b"])) { try Vocabulary(fileContents: "a\nb\n") }
        #expect(throws: VocabularyError.duplicate(token: "x", first: 4, second: 5)) {
            try Vocabulary(fileContents: "<pad>\n<start>\n<end>\n<unk>\nx\nx\n")
        }
    }

    @Test("the rule keeps its minimum count while few training words are unknown, and says so")
    func ruleKeepsTheDefault() {
        // "a dog runs" ten times and one "cat": at 5, 1 word of 31 is unknown (3.2% ≤ 5%).
        let captions = Array(repeating: ["a", "dog", "runs"], count: 10) + [["cat"]]
        let decision = VocabularyRule().decide(trainingCaptions: captions)
        #expect(decision.minimumCount == 5 && decision.reason == .standard)
        #expect(decision.vocabulary.tokens == Vocabulary.specialTokens + ["a", "dog", "runs"])
        #expect(decision.wordCount == 3 && decision.trainingWords == 31 && decision.unknownWords == 1)
        #expect(decision.summary == "words seen at least 5 times: 3 words (7 tokens with the 4 special ones), "
                + "3.2% of training caption tokens unknown")
        #expect(decision.reasonText == nil)
    }

    @Test("on a small dataset the rule lowers the count while more than 5% of the words would be unknown")
    func ruleLowersTheCount() {
        // "a" 4 times, "b" 3 times, eight words once: at 5 all 15 words are unknown, at 4 the 11
        // of "b" and the singletons, at 3 and 2 the eight singletons (53%), at 1 none.
        let captions = [["a", "b", "w1", "w2"], ["a", "b", "w3", "w4"], ["a", "b", "w5", "w6"], ["a", "w7", "w8"]]
        let decision = VocabularyRule().decide(trainingCaptions: captions)
        #expect(decision.minimumCount == 1)
        #expect(decision.reason == .lowered(from: 5, unknownRate: 1))
        #expect(decision.wordCount == 10 && decision.unknownWords == 0 && decision.unknownRate == 0)
        #expect(decision.vocabulary == Vocabulary.build(from: captions, minimumCount: 1))
        #expect(decision.summary == "words seen at least 1 time: 10 words (14 tokens with the 4 special ones), "
                + "0.0% of training caption tokens unknown")
        #expect(decision.reasonText == "lowered from the default 5, which would leave 100.0% of the training caption tokens "
                + "unknown (it is lowered while more than 5% would be)")

        // It stops at the first count with few enough unknown words: under a 60% ceiling, 3 (53%).
        let lenient = VocabularyRule(maximumUnknownRate: 0.6).decide(trainingCaptions: captions)
        #expect(lenient.minimumCount == 3 && lenient.wordCount == 2 && lenient.unknownWords == 8)
        #expect(lenient.reason == .lowered(from: 5, unknownRate: 1))
    }

    @Test("a count chosen explicitly is kept whatever it leaves unknown; a size cap is counted")
    func ruleChosenAndCapped() {
        let captions = [["a", "b", "w1"], ["a", "b", "w2"], ["a", "w3"]]
        let chosen = VocabularyRule(minimumCount: 2, lowersMinimumCount: false).decide(trainingCaptions: captions)
        #expect(chosen.minimumCount == 2 && chosen.reason == .chosen && chosen.wordCount == 2 && chosen.unknownWords == 3)
        #expect(chosen.reasonText == "as asked, instead of the default 5")
        #expect(VocabularyRule(minimumCount: 5, lowersMinimumCount: false).decide(trainingCaptions: captions).reasonText == nil)

        let capped = VocabularyRule(minimumCount: 1, lowersMinimumCount: false, maximumSize: 6).decide(trainingCaptions: captions)
        #expect(capped.vocabulary.tokens == Vocabulary.specialTokens + ["a", "b"])
        #expect(capped.cappedWords == 3 && capped.unknownWords == 3)
        #expect(capped.reasonText == "as asked, instead of the default 5; capped at 6 tokens: the 3 least frequent words become <unk> too")

        let empty = VocabularyRule().decide(trainingCaptions: [[String]]())
        #expect(empty.minimumCount == 5 && empty.wordCount == 0 && empty.unknownRate == 0)
    }
}
