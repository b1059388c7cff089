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
}
