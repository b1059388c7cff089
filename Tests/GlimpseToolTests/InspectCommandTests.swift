import Foundation
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
        #expect(lines.contains { $0.hasPrefix("vocabulary at min count 1:") })
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
