import Foundation
import GlimpseImage
import Testing

@Suite("glimpse caption")
struct CaptionCommandTests {
    /// Three good images (PNG, JPEG, a fixture), one corrupt, one missing.
    static func images(in folder: ScratchFolder) throws -> (good: [String], bad: [String]) {
        try PNGWriter.write(TinyModel.image(width: 40, height: 30, seed: 1), to: folder.path + "/one.png")
        try JPEGWriter.write(TinyModel.image(width: 24, height: 48, seed: 2), to: folder.path + "/two.jpg")
        try folder.copy(fixture: "jpeg-exif-orientation-6.jpg", as: "three.jpg")
        try folder.write(Array("this is not a picture".utf8), to: "broken.jpg")
        return ([folder.path + "/one.png", folder.path + "/two.jpg", folder.path + "/three.jpg"],
                [folder.path + "/broken.jpg", folder.path + "/missing.png"])
    }

    @Test("several images with bad ones: each good one captioned, one stderr line per bad one, exit status 1")
    func severalWithFailures() throws {
        let (folder, model) = try TinyModel.folder()
        let (good, bad) = try Self.images(in: folder)
        let outcome = try ToolRunner.run(["caption", "--model", model, "--batch-size", "2",
                                          good[0], bad[0], good[1], bad[1], good[2]])
        #expect(outcome.status == 1)
        let lines = outcome.outputLines
        #expect(lines.count == 3, "\(lines)")
        for (line, path) in zip(lines, good) {
            let parts = line.split(separator: "\t", omittingEmptySubsequences: false)
            #expect(parts.count == 2 && parts[0] == path && !parts[1].isEmpty, "\(line)")
        }
        #expect(outcome.errorLines.contains("\(bad[0]): unsupported format: text file (Glimpse reads JPEG and PNG)"),
                "\(outcome.errorLines)")
        #expect(outcome.errorLines.contains("\(bad[1]): cannot read file: No such file or directory"), "\(outcome.errorLines)")
    }

    @Test("numeric flags are checked against their ranges before any work, even at Int.max", arguments: [
        (["--beam", "100000"], "--beam must be from 1 to 100, got 100000"),
        (["--beam", "9223372036854775807"], "--beam must be from 1 to 100"),
        (["--threads", "9223372036854775807"], "--threads must be from 1 to 256"),
        (["--batch-size", "9223372036854775807"], "--batch-size must be from 1 to 1024"),
        (["--max-length", "100000"], "--max-length must be from 1 to 500"),
    ])
    func ranges(flags: [String], message: String) throws {
        let outcome = try ToolRunner.run(["caption", "/nonexistent.jpg"] + flags, timeout: 30)
        #expect(outcome.status != 0 && !outcome.timedOut)
        #expect(outcome.standardError.contains(message), "\(outcome.standardError)")
    }

    @Test("one image: just the caption; --n-best prints N captions with log-probabilities")
    func singleAndNBest() throws {
        let (folder, model) = try TinyModel.folder()
        let (good, _) = try Self.images(in: folder)
        let single = try ToolRunner.run(["caption", "--model", model, good[0]])
        #expect(single.status == 0, "\(single.standardError)")
        #expect(single.outputLines.count == 1)
        #expect(!single.standardOutput.contains("\t"))

        let nBest = try ToolRunner.run(["caption", "--model", model, "--beam", "3", "--n-best", "2", good[0]])
        #expect(nBest.status == 0, "\(nBest.standardError)")
        #expect(nBest.outputLines.count == 2, "\(nBest.outputLines)")
        let scores = nBest.outputLines.compactMap { Double($0.split(separator: "\t")[0]) }
        #expect(scores.count == 2 && scores[0] <= 0 && scores[1] <= 0)
    }

    @Test("a caption cut at --max-length ends with \"…\" (--json: \"truncated\": true) and a note says how to let it finish")
    func truncated() throws {
        // The shipped model ends its captions of the samples well within the default 30 words.
        let sample = DefaultModelTests.samples + "/Images/synth-000009.jpg"
        let whole = try ToolRunner.run(["caption", sample, "--beam", "1"])
        #expect(whole.status == 0, "\(whole.standardError)")
        let caption = whole.standardOutput.trimmingCharacters(in: .newlines)
        #expect(caption.split(separator: " ").count > 2 && !caption.hasSuffix("…"), "\(caption)")
        #expect(!whole.standardError.contains("cut at"), "\(whole.standardError)")

        let cut = try ToolRunner.run(["caption", sample, "--beam", "1", "--max-length", "2"])
        #expect(cut.status == 0, "\(cut.standardError)")
        let firstTwo = caption.split(separator: " ").prefix(2).joined(separator: " ")
        #expect(cut.standardOutput == firstTwo + "…\n", "greedy search: the first two words of the whole caption, marked")
        #expect(cut.errorLines == ["glimpse: 1 caption cut at --max-length 2 before the model ended it (marked …); "
                                   + "a larger --max-length lets it finish"], "\(cut.errorLines)")

        for (flags, isCut) in [(["--max-length", "2"], true), ([], false)] {
            let json = try ToolRunner.run(["caption", sample, "--beam", "1", "--json"] + flags)
            let object = try #require(JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
            #expect(object["truncated"] as? Bool == isCut && object["complete"] as? Bool == !isCut, "\(flags)")
            #expect(object["caption"] as? String == (isCut ? firstTwo : caption), "the JSON caption is the words alone")
        }
    }

    @Test("--json: words, log-probability and one g×g attention grid per word, each summing to 1")
    func json() throws {
        let (folder, model) = try TinyModel.folder()
        let (good, bad) = try Self.images(in: folder)
        let outcome = try ToolRunner.run(["caption", "--model", model, "--json", good[0], good[1], bad[0]])
        #expect(outcome.status == 1)
        let objects = try outcome.outputLines.map {
            try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect(objects.count == 3)
        #expect(objects[2]["path"] as? String == bad[0] && objects[2]["error"] != nil)
        for (object, path) in zip(objects.prefix(2), good) {
            #expect(object["path"] as? String == path)
            let tokens = try #require(object["tokens"] as? [String])
            #expect(!tokens.isEmpty)
            #expect((object["logprob"] as? Double).map { $0 < 0 } == true)
            #expect(object["grid"] as? Int == TinyModel.grid)
            let attention = try #require(object["attention"] as? [[[Double]]])
            #expect(attention.count == tokens.count)
            for grid in attention {
                #expect(grid.count == TinyModel.grid && grid.allSatisfy { $0.count == TinyModel.grid })
                let sum = grid.joined().reduce(0, +)
                #expect(abs(sum - 1) < 1e-4, "attention sums to \(sum)")
            }
        }
    }

    @Test("--attention-dir writes a decodable PNG sheet per image, of the renderer's size")
    func attentionSheets() throws {
        let (folder, model) = try TinyModel.folder()
        let (good, _) = try Self.images(in: folder)
        let sheets = folder.path + "/sheets"
        let outcome = try ToolRunner.run(["caption", "--model", model, "--json", "--attention-dir", sheets, good[0], good[1]])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        let sizes = [(40, 30), (24, 48)]
        for (index, path) in good.prefix(2).enumerated() {
            let object = try #require(JSONSerialization.jsonObject(with: Data(outcome.outputLines[index].utf8)) as? [String: Any])
            let words = try #require(object["tokens"] as? [String])
            let sheet = try ImageDecoder().decode(contentsOf: sheets + "/" + (path as NSString).lastPathComponent + ".png").image
            let expected = AttentionSheet.size(imageWidth: sizes[index].0, imageHeight: sizes[index].1, words: words)
            #expect(sheet.width == expected.width && sheet.height == expected.height)
        }
    }
}
