import Foundation
import GlimpseImage
import Testing

/// Ctrl-C in the middle of `glimpse batch`: the run stops at the next image, saves what it
/// did (output and page), says so and how to go on, and the same command finishes the rest.
@Suite("glimpse batch: Ctrl-C and resume", .serialized)
struct BatchInterruptionTests {
    /// Starts `arguments`, waits until standard error has shown `marker` `occurrence` times,
    /// sends `signal`, and returns the exit status and all of standard error.
    static func runAndSignal(_ arguments: [String], environment: [String: String], marker: String, occurrence: Int,
                             signal: Int32) throws -> (status: Int32, standardError: String, signalled: Bool) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ToolRunner.executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let error = Pipe()
        process.standardError = error
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        var text = "", signalled = false
        while true {
            let chunk = error.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
            if !signalled && text.components(separatedBy: marker).count - 1 >= occurrence {
                kill(process.processIdentifier, signal)
                signalled = true
            }
        }
        process.waitUntilExit()
        return (process.terminationStatus, text, signalled)
    }

    /// Three dozen small images (quick to write and caption) and one file that is not an image,
    /// in SCRATCH/photos; returns the folder and the images' relative paths.
    static func photos(in scratch: ScratchFolder) throws -> (String, [String]) {
        let data = scratch.path + "/photos"
        var images: [String] = []
        for index in 0..<36 {
            let relative = String(format: index % 2 == 0 ? "a/img%02d.png" : "b/img%02d.jpg", index)
            try FileManager.default.createDirectory(atPath: data + "/" + (relative as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            let image = TinyModel.image(width: 24, height: 20, seed: index)
            if relative.hasSuffix(".png") { try PNGWriter.write(image, to: data + "/" + relative) }
            else { try JPEGWriter.write(image, to: data + "/" + relative) }
            images.append(relative)
        }
        try scratch.write(Array("notes\n".utf8), to: "photos/notes.txt")
        return (data, images)
    }

    static func figures(in page: String) throws -> Int {
        try String(contentsOfFile: page, encoding: .utf8).components(separatedBy: "<figure>").count - 1
    }

    @Test("interrupted, then resumed: what was saved and what is left are printed, output and page hold exactly the images done, the same command does the rest",
          arguments: ["jsonl", "coco"])
    func interruptThenResume(format: String) throws {
        let (scratch, model) = try TinyModel.folder()
        let (data, images) = try Self.photos(in: scratch)
        let fileCount = images.count + 1
        let output = scratch.path + (format == "coco" ? "/results.json" : "/out.jsonl")
        let page = scratch.path + "/page.html"
        let arguments = ["batch", data, "--model", model, "--output", output, "--html", page, "--batch-size", "4", "--workers", "1"]

        let run = try Self.runAndSignal(arguments, environment: ["GLIMPSE_TEST_BATCH_PAUSE": "0.2"],
                                        marker: "test pause after a batch\n", occurrence: 2, signal: SIGINT)
        #expect(run.signalled)
        #expect(run.status == 130, "\(run.standardError)")
        // glimpse: stopped by Ctrl-C (SIGINT); N images saved in OUTPUT[ (resume state in ...)] and the page PAGE; run ...
        let line = try #require(run.standardError.split(separator: "\n").first { $0.hasPrefix("glimpse: stopped by Ctrl-C (SIGINT); ") },
                                "\(run.standardError)")
        let saved = try #require(line.firstMatch(of: /; (\d+) images? saved/).flatMap { Int($0.1) }, "\(line)")
        let left = try #require(line.firstMatch(of: /with the (\d+) files? not yet/).flatMap { Int($0.1) }, "\(line)")
        let where_ = format == "coco" ? "\(output) (resume state in \(output).progress.jsonl)" : output
        #expect(line == "glimpse: stopped by Ctrl-C (SIGINT); \(saved) images saved in \(where_) and the page \(page); "
                + "run the same command again to go on with the \(left) files not yet looked at", "\(line)")
        // Two batches were saved before the signal; the run stopped well before the end.
        #expect(saved >= 8 && saved < 36, "\(saved)")
        #expect(saved + left == fileCount, "every file is either saved or left: \(saved) + \(left)")

        // The output holds exactly the saved images, each once; the page shows them.
        let paths: [String]
        if format == "coco" {
            let array = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output))) as? [[String: Any]])
            paths = array.compactMap { $0["image_id"] as? String }
            #expect(try BatchCommandTests.jsonLines(output + ".progress.jsonl").count == saved)
        } else {
            paths = try BatchCommandTests.jsonLines(output).compactMap { $0["path"] as? String }
        }
        #expect(paths.count == saved && Set(paths).count == saved, "\(paths)")
        #expect(try Self.figures(in: page) == saved)
        #expect(try String(contentsOfFile: page, encoding: .utf8).contains("Interrupted: these are the images done so far"))

        // The same command goes on and finishes.
        let resumed = try ToolRunner.run(arguments)
        #expect(resumed.status == 0, "\(resumed.standardError)")
        #expect(resumed.standardError.contains("\(36 - saved) captioned, 0 failed, \(saved) skipped as already done, "
                                               + "1 non-image file ignored (notes.txt)"), "\(resumed.standardError)")
        let all: [String]
        if format == "coco" {
            let array = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output))) as? [[String: Any]])
            all = array.compactMap { $0["image_id"] as? String }
        } else {
            all = try BatchCommandTests.jsonLines(output).compactMap { $0["path"] as? String }
        }
        #expect(all.count == 36 && Set(all) == Set(images))
        #expect(try Self.figures(in: page) == 36)
        #expect(!(try String(contentsOfFile: page, encoding: .utf8).contains("Interrupted")))
    }

    @Test("a signal after the last file was reached stops nothing: the run is complete, status 0, no note on the page")
    func signalAfterTheEnd() throws {
        let (scratch, model) = try TinyModel.folder()
        let (data, _) = try Self.photos(in: scratch)
        let output = scratch.path + "/out.jsonl", page = scratch.path + "/page.html"
        // One batch holds every image: the walk has ended before the batch is saved and the test pause begins.
        let run = try Self.runAndSignal(["batch", data, "--model", model, "--output", output, "--html", page, "--batch-size", "64"],
                                        environment: ["GLIMPSE_TEST_BATCH_PAUSE": "0.2"],
                                        marker: "test pause after a batch\n", occurrence: 1, signal: SIGINT)
        #expect(run.signalled)
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardError.contains("glimpse: the signal came after the last file was reached; the run is complete"),
                "\(run.standardError)")
        #expect(try BatchCommandTests.jsonLines(output).count == 36)
        #expect(!(try String(contentsOfFile: page, encoding: .utf8).contains("Interrupted")))
    }
}
