import Foundation
import GlimpseSynth
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Only regular files are read: a FIFO (which has no writer here, so opening it for reading
/// would wait forever), a socket or a device given as an image, a model or a captions file is
/// refused at once with its kind named.
@Suite("Special files: FIFOs and devices are refused, never waited on")
struct SpecialFileTests {
    static let sample = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("samples/Images/synth-000009.jpg").path

    func fifo(_ scratch: ScratchFolder, _ name: String) throws -> String {
        let path = scratch.path + "/" + name
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        #expect(mkfifo(path, 0o644) == 0)
        return path
    }

    @Test("a FIFO or a device given as the image")
    func image() throws {
        let scratch = try ScratchFolder()
        let path = try fifo(scratch, "photo.jpg")
        let outcome = try ToolRunner.run(["caption", path], timeout: 30)
        #expect(!outcome.timedOut, "glimpse caption waited on a FIFO")
        #expect(outcome.status != 0)
        #expect(outcome.standardError.contains(path) && outcome.standardError.contains("not a regular file (a FIFO)"),
                "\(outcome.standardError)")
        let device = try ToolRunner.run(["caption", "/dev/zero"], timeout: 30)
        #expect(!device.timedOut && device.status != 0)
        #expect(device.standardError.contains("not a regular file (a character device)"), "\(device.standardError)")
    }

    @Test("a FIFO among a folder's images is reported and the others are captioned")
    func folder() throws {
        let scratch = try ScratchFolder()
        try FileManager.default.createDirectory(atPath: scratch.path + "/photos", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.sample, toPath: scratch.path + "/photos/a.jpg")
        let path = try fifo(scratch, "photos/b.jpg")
        let outcome = try ToolRunner.run(["caption", scratch.path + "/photos"], timeout: 60)
        #expect(!outcome.timedOut, "glimpse caption waited on a FIFO in a folder")
        #expect(outcome.standardOutput.contains("a.jpg"), "\(outcome.standardOutput)")
        #expect(outcome.standardError.contains(path), "\(outcome.standardError)")
    }

    @Test("a symbolic link back to a parent folder ends the walk with a report, not a hang")
    func loop() throws {
        let scratch = try ScratchFolder()
        try FileManager.default.createDirectory(atPath: scratch.path + "/photos/sub", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.sample, toPath: scratch.path + "/photos/sub/a.jpg")
        try FileManager.default.createSymbolicLink(atPath: scratch.path + "/photos/sub/up", withDestinationPath: "..")
        let outcome = try ToolRunner.run(["caption", scratch.path + "/photos"], timeout: 60)
        #expect(!outcome.timedOut)
        #expect(outcome.outputLines.count == 1, "one image, captioned once: \(outcome.standardOutput)")
        #expect(outcome.standardError.contains(scratch.path + "/photos/sub/up: a folder already walked"), "\(outcome.standardError)")
        #expect(outcome.status == 1)
    }

    @Test("a FIFO given as the model")
    func model() throws {
        let scratch = try ScratchFolder()
        let path = try fifo(scratch, "model.safetensors")
        let outcome = try ToolRunner.run(["caption", "--model", path, Self.sample], timeout: 30)
        #expect(!outcome.timedOut, "glimpse caption --model waited on a FIFO")
        #expect(outcome.status != 0)
        #expect(outcome.standardError.contains(path) && outcome.standardError.contains("a FIFO"), "\(outcome.standardError)")
    }

    @Test("a FIFO as a dataset's captions file")
    func captions() throws {
        let scratch = try ScratchFolder()
        try SyntheticDataset(count: 4, seed: 3).write(to: scratch.path + "/data")
        try FileManager.default.removeItem(atPath: scratch.path + "/data/captions.txt")
        let path = try fifo(scratch, "data/captions.txt")
        let outcome = try ToolRunner.run(["inspect", scratch.path + "/data"], timeout: 30)
        #expect(!outcome.timedOut, "glimpse inspect waited on a FIFO")
        #expect(outcome.status != 0)
        #expect(outcome.standardError.contains(path), "\(outcome.standardError)")
    }
}

@Suite("Odd file names in plain-text output")
struct OddNameTests {
    @Test("a tab or newline in a file name is escaped, so each record stays one line of two fields")
    func escapedInPlainText() throws {
        let scratch = try ScratchFolder()
        try FileManager.default.createDirectory(atPath: scratch.path + "/photos", withIntermediateDirectories: true)
        for name in ["tab\there.jpg", "new\nline.jpg", "back\\slash.jpg"] {
            try FileManager.default.copyItem(atPath: SpecialFileTests.sample, toPath: scratch.path + "/photos/" + name)
        }
        let outcome = try ToolRunner.run(["caption", scratch.path + "/photos"], timeout: 60)
        #expect(outcome.status == 0, "\(outcome.standardError)")
        let lines = outcome.outputLines
        #expect(lines.count == 3, "\(lines)")
        #expect(lines.allSatisfy { $0.split(separator: "\t", omittingEmptySubsequences: false).count == 2 })
        #expect(lines.contains { $0.hasPrefix(scratch.path + "/photos/tab\\there.jpg\t") })
        #expect(lines.contains { $0.hasPrefix(scratch.path + "/photos/new\\nline.jpg\t") })
        #expect(lines.contains { $0.hasPrefix(scratch.path + "/photos/back\\\\slash.jpg\t") })
        let info = try ToolRunner.run(["info", scratch.path + "/photos/new\nline.jpg"], timeout: 30)
        #expect(info.outputLines.count == 1 && info.standardOutput.contains("new\\nline.jpg: JPEG"), "\(info.standardOutput)")
    }
}
