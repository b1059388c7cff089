import Foundation
import GlimpseImage
import Testing

@Suite("glimpse inspect")
struct InspectCommandTests {
    @Test("reports a Kaggle-layout folder, listing the missing image")
    func kaggleFolder() throws {
        let folder = try ScratchFolder()
        try folder.copy(fixture: "jpeg-baseline-420.jpg", as: "Images/one.jpg")
        try folder.copy(fixture: "png-rgb8.png", as: "Images/two.png")
        try folder.copy(fixture: "png-gray8.png", as: "Images/three.png")
        try folder.write(Array("image,caption\none.jpg,A dog runs.\ntwo.png,\"A cat, asleep.\"\nthree.png,A bird.\nfour.jpg,Gone.\n".utf8),
                         to: "captions.txt")
        let outcome = try ToolRunner.run(["inspect", folder.path, "--min-count", "1"])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        let lines = outcome.outputLines
        #expect(lines.contains("format: flickr8k-kaggle (captions from \(folder.path)/captions.txt)"))
        #expect(lines.contains("image files missing or unreadable: 1"))
        #expect(lines.contains("  \(folder.path)/Images/four.jpg: cannot read file: No such file or directory"))
        #expect(lines.contains { $0.hasPrefix("vocabulary: train will keep words seen at least 1 time: ") })
        #expect(lines.contains("  as asked, instead of the default 5"))
    }

    /// A Karpathy-layout dataset with its own splits: five training images, one validation and
    /// one test image, one caption each, "A x y." with every x and y different. The training
    /// captions hold 15 words: "a" 5 times and ten words once.
    func tinyDataset() throws -> ScratchFolder {
        let folder = try ScratchFolder()
        try FileManager.default.createDirectory(atPath: folder.path + "/images", withIntermediateDirectories: true)
        let words = ["dog", "cat", "bird", "car", "tree", "boat", "house", "ball", "fish", "horse", "cow", "sheep", "goat", "duck"]
        var entries: [String] = []
        for index in 0..<7 {
            let split = index < 5 ? "train" : index == 5 ? "val" : "test"
            entries.append(#"{"filename": "\#(index).png", "split": "\#(split)", "sentences": [{"raw": "A \#(words[2 * index]) \#(words[2 * index + 1])."}]}"#)
            let pixels = (0..<(12 * 10 * 3)).map { UInt8(truncatingIfNeeded: $0 * 7 + index * 40) }
            try PNGWriter.write(pixels: pixels, width: 12, height: 10, channels: 3, to: folder.path + "/images/\(index).png")
        }
        try folder.write(Array(("{\"images\": [" + entries.joined(separator: ",\n") + "]}").utf8), to: "dataset_tiny.json")
        return folder
    }

    @Test("reports the vocabulary glimpse train will build, and train builds and reports exactly that")
    func vocabularyAsTrainDecides() throws {
        let folder = try tinyDataset()
        let outcome = try ToolRunner.run(["inspect", folder.path])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        // At the default 5 only "a" is kept and 10 of the 15 words are unknown: train lowers the
        // count to 1, keeping "a" and the ten others.
        let kept = "words seen at least 1 time: 11 words (15 tokens with the 4 special ones), 0.0% of training caption tokens unknown"
        let reason = "  lowered from the default 5, which would leave 66.7% of the training caption tokens unknown "
            + "(it is lowered while more than 5% would be)"
        let lines = outcome.outputLines
        #expect(lines.contains("vocabulary: train will keep " + kept), "\(lines)")
        #expect(lines.contains(reason), "\(lines)")
        // Validation and test: "a horse cow", "a sheep goat": 4 of 6 words unknown.
        #expect(lines.contains("  unknown in validation and test captions: 66.7% of tokens"), "\(lines)")

        let run = folder.path + "/run"
        let trained = try ToolRunner.run(["train", folder.path, "--out", run, "--epochs", "1"] + TrainCommandTests.tinyModel)
        #expect(trained.status == 0, "\(trained.standardError)")
        #expect(trained.errorLines.contains("vocabulary: kept " + kept), "\(trained.standardError)")
        #expect(trained.errorLines.contains(reason), "\(trained.standardError)")
        let vocabulary = try String(contentsOfFile: run + "/vocab.txt", encoding: .utf8).split(separator: "\n")
        #expect(vocabulary.count == 15)
        let configuration = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/config.json")))
                                         as? [String: Any])
        #expect(configuration["minimumWordCount"] as? Int == 1)

        // --min-count as train takes it: kept, with the reason.
        let chosen = try ToolRunner.run(["inspect", folder.path, "--min-count", "2"])
        #expect(chosen.outputLines.contains("vocabulary: train will keep words seen at least 2 times: 1 word "
                                            + "(5 tokens with the 4 special ones), 66.7% of training caption tokens unknown"),
                "\(chosen.outputLines)")
        #expect(chosen.outputLines.contains("  as asked, instead of the default 5"))
    }

    @Test("warns about tiny splits, in train too, and counts in the singular when there is one")
    func tinySplitsAndPlurals() throws {
        let folder = try tinyDataset()
        let outcome = try ToolRunner.run(["inspect", folder.path])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        let lines = outcome.outputLines
        #expect(lines.contains("  train 5 images, 5 captions"), "\(lines)")
        #expect(lines.contains("  val   1 image, 1 caption"), "\(lines)")
        #expect(lines.contains("  test  1 image, 1 caption"), "\(lines)")
        #expect(lines.contains("warning: only 5 training images: too few to learn captions that carry over to new images "
                               + "(thousands is usual); enough to check that training runs"), "\(lines)")
        #expect(lines.contains("warning: only 1 validation image: validation metrics, and the choice of the best epoch, "
                               + "will be noise (25 or more give figures worth comparing)"), "\(lines)")
        #expect(lines.contains("warning: only 1 test image: test metrics will be noise (25 or more give figures worth comparing)"))
        #expect(!outcome.standardOutput.contains("1 images") && !outcome.standardOutput.contains("1 captions"))

        let trained = try ToolRunner.run(["train", folder.path, "--out", folder.path + "/run", "--epochs", "1"]
                                         + TrainCommandTests.tinyModel)
        #expect(trained.status == 0, "\(trained.standardError)")
        let errors = trained.standardError
        #expect(errors.contains("5 training images, 1 validation image\n"), "\(errors)")
        #expect(errors.contains("glimpse: warning: only 1 validation image: validation metrics"), "\(errors)")
        #expect(errors.contains("on 1 image (best so far"), "\(errors)")
        #expect(errors.contains("trained 1 epoch;"), "\(errors)")
        #expect(!errors.contains("test image"), "train has no business with the test split: \(errors)")
    }

    @Test("a dataset with no validation images says how the best epoch is then chosen")
    func noValidationSplit() throws {
        let folder = try ScratchFolder()
        try FileManager.default.createDirectory(atPath: folder.path + "/images", withIntermediateDirectories: true)
        var entries: [String] = []
        for index in 0..<3 {
            entries.append(#"{"filename": "\#(index).png", "split": "train", "sentences": [{"raw": "a dog"}]}"#)
            try PNGWriter.write(pixels: [UInt8](repeating: UInt8(index * 60), count: 8 * 8 * 3), width: 8, height: 8, channels: 3,
                                to: folder.path + "/images/\(index).png")
        }
        try folder.write(Array(("{\"images\": [" + entries.joined(separator: ",") + "]}").utf8), to: "dataset_tiny.json")
        let lines = try ToolRunner.run(["inspect", folder.path]).outputLines
        #expect(lines.contains("warning: no validation images: training reports no validation metrics and keeps as best "
                               + "the epoch with the lowest training loss"), "\(lines)")
        #expect(lines.contains("warning: no test images: evaluate on another split"), "\(lines)")
        // "a" and "dog" 3 times each: below the default 5, so all words are unknown there.
        #expect(lines.contains("  lowered from the default 5, which would leave 100.0% of the training caption tokens unknown "
                               + "(it is lowered while more than 5% would be)"), "\(lines)")
    }

    @Test("a folder that holds no dataset is explained, exit status 1")
    func notADataset() throws {
        let folder = try ScratchFolder()
        try folder.write(Array("hello".utf8), to: "notes.md")
        let outcome = try ToolRunner.run(["inspect", folder.path])
        #expect(outcome.status == 1)
        #expect(outcome.standardError.contains("no captioned dataset found"))
    }
}
