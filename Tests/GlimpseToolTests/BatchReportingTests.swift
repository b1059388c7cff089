@testable import GlimpseTool
import Foundation
import Testing

/// What `glimpse batch` tells its user: a folder with no image, the files it ignored, the
/// format it picked, and the captions it cut.
@Suite("glimpse batch: what it says")
struct BatchReportingTests {
    @Test("a folder with no image: one warning naming what it holds, exit status 1, nothing written", arguments: [
        ([String](), "it holds no file (hidden ones are not looked at)"),
        (["readme.txt", "notes.md"], "2 files, none of them an image (notes.md, readme.txt)"),
        (["a.txt", "b.txt", "c.txt", "d.txt", "e.txt", "sub/f.txt", "sub/g.txt"],
         "7 files, none of them an image (a.txt, b.txt, c.txt, d.txt, e.txt and 2 more)"),
    ])
    func noImages(files: [String], holds: String) throws {
        let (folder, model) = try TinyModel.folder()
        let directory = folder.path + "/photos"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in files { try folder.write(Array("text\n".utf8), to: "photos/" + name) }
        try folder.copy(fixture: "png-gray8.png", as: "photos/.hidden.png")
        let output = folder.path + "/out.jsonl", page = folder.path + "/page.html"
        let outcome = try ToolRunner.run(["batch", directory, "--model", model, "--output", output, "--html", page])
        #expect(outcome.status == 1)
        #expect(outcome.errorLines == ["glimpse: no images in \(directory): \(holds); nothing was written"], "\(outcome.errorLines)")
        #expect(!FileManager.default.fileExists(atPath: output) && !FileManager.default.fileExists(atPath: page))
    }

    @Test("non-image files are named in the summary, the first five; --verbose names each as it is found")
    func namesNonImages() throws {
        let (folder, model) = try TinyModel.folder()
        let (directory, good, _) = try BatchCommandTests.tree(in: folder, count: 3)
        // One non-image (readme.txt): the summary's noun is singular.
        let one = try ToolRunner.run(["batch", directory, "--model", model, "--output", folder.path + "/one.jsonl"])
        #expect(one.errorLines.contains { $0.contains(", 1 non-image file ignored (readme.txt) in ") }, "\(one.errorLines)")

        let others = ["a.txt", "b.csv", "c.md", "nested/d.txt", "z.json", "zz.txt"]
        for name in others { try folder.write(Array("text\n".utf8), to: "photos/" + name) }
        let seven = ["a.txt", "b.csv", "c.md", "nested/d.txt", "readme.txt", "z.json", "zz.txt"]
        let quiet = try ToolRunner.run(["batch", directory, "--model", model, "--output", folder.path + "/quiet.jsonl"])
        #expect(quiet.errorLines.contains {
            $0.contains("\(good.count) captioned, 1 failed, 0 skipped as already done, 7 non-image files ignored "
                        + "(a.txt, b.csv, c.md, nested/d.txt, readme.txt and 2 more; --verbose names each) in ")
        }, "\(quiet.errorLines)")
        #expect(!quiet.standardError.contains("not an image, ignored"))

        let verbose = try ToolRunner.run(["batch", directory, "--model", model, "--output", folder.path + "/verbose.jsonl", "--verbose"])
        let listed = verbose.errorLines.filter { $0.hasSuffix(": not an image, ignored") }
        #expect(listed == seven.map { "\(directory)/\($0): not an image, ignored" }, "\(verbose.errorLines)")
        #expect(verbose.errorLines.contains { $0.contains("7 non-image files ignored (a.txt, b.csv, c.md, nested/d.txt, readme.txt and 2 more) in ") },
                "\(verbose.errorLines)")
    }

    @Test("without --format the output's extension picks the format", arguments: [
        ("out.csv", "csv"), ("OUT.CSV", "csv"), ("out.jsonl", "jsonl"), ("out.ndjson", "jsonl"), ("out.json", "coco"),
        ("out.txt", "jsonl"), ("out", "jsonl"),
    ])
    func formatFromExtension(name: String, format: String) throws {
        let (folder, model) = try TinyModel.folder()
        let (directory, good, _) = try BatchCommandTests.tree(in: folder, count: 2)
        let output = folder.path + "/" + name
        let outcome = try ToolRunner.run(["batch", directory, "--model", model, "--output", output])
        #expect(outcome.status == 1, "the corrupt image fails: \(outcome.standardError)")
        let text = try String(contentsOfFile: output, encoding: .utf8)
        switch format {
        case "csv":
            #expect(text.hasPrefix("path,caption,logprob,error\r\n"), "\(text)")
        case "coco":
            let array = try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]], "\(text)")
            #expect(array.compactMap { $0["image_id"] as? String }.sorted() == good)
            #expect(FileManager.default.fileExists(atPath: output + ".progress.jsonl"))
        default:
            #expect(try BatchCommandTests.jsonLines(output).count == good.count + 1, "\(text)")
        }
    }

    @Test("a --format that contradicts the output's extension is refused before anything is written", arguments: [
        ("out.csv", "jsonl", "--output OUT/out.csv names a csv file but --format is jsonl; use --output OUT/out.jsonl, or leave out --format for csv."),
        ("out.json", "jsonl", "--output OUT/out.json names a coco file but --format is jsonl; use --output OUT/out.jsonl, or leave out --format for coco."),
        ("out.jsonl", "coco", "--output OUT/out.jsonl names a jsonl file but --format is coco; use --output OUT/out.json, or leave out --format for jsonl."),
    ])
    func contradictingFormat(name: String, format: String, message: String) throws {
        let (folder, model) = try TinyModel.folder()
        let (directory, _, _) = try BatchCommandTests.tree(in: folder, count: 1)
        let output = folder.path + "/" + name
        let outcome = try ToolRunner.run(["batch", directory, "--model", model, "--output", output, "--format", format])
        #expect(outcome.status != 0 && outcome.status != 1, "a usage error: \(outcome.status)")
        #expect(outcome.standardError.contains(message.replacingOccurrences(of: "OUT", with: folder.path)), "\(outcome.standardError)")
        #expect(!FileManager.default.fileExists(atPath: output))
        // A --format that agrees with the extension is fine.
        let agreeing = try ToolRunner.run(["batch", directory, "--model", model, "--output", output,
                                           "--format", BatchFormat(impliedBy: name)!.rawValue])
        #expect(agreeing.status == 1 && FileManager.default.fileExists(atPath: output), "\(agreeing.standardError)")
    }

    @Test("captions cut at --max-length: \"truncated\": true in JSON Lines and \"…\" on the page, exactly for those")
    func truncatedRecords() throws {
        let (folder, model) = try TinyModel.folder()
        let (directory, good, _) = try BatchCommandTests.tree(in: folder, count: 6)
        let output = folder.path + "/out.jsonl", page = folder.path + "/page.html"
        let outcome = try ToolRunner.run(["batch", directory, "--model", model, "--output", output, "--html", page, "--max-length", "2"])
        let records = try BatchCommandTests.jsonLines(output).filter { $0["caption"] != nil }
        #expect(records.count == good.count)
        // With at most 2 steps, a caption of 2 words never reached <end>; a shorter one did.
        let cut = records.filter { ($0["caption"] as? String)?.split(separator: " ").count == 2 }
        #expect(!cut.isEmpty, "the test needs a cut caption")
        for record in records {
            let isCut = (record["caption"] as? String)?.split(separator: " ").count == 2
            #expect((record["truncated"] as? Bool ?? false) == isCut, "\(record)")
            #expect(record["truncated"] == nil || isCut, "written only when true: \(record)")
        }
        let html = try String(contentsOfFile: page, encoding: .utf8)
        for record in cut { #expect(html.contains(">\(record["caption"] as? String ?? "")…"), "\(record)") }
        let note = cut.count == 1 ? "glimpse: 1 caption cut at --max-length 2 before the model ended it"
            : "glimpse: \(cut.count) captions cut at --max-length 2 before the model ended them"
        #expect(outcome.standardError.contains(note + " (\"truncated\": true in the output)"), "\(outcome.standardError)")

        // The records read back: a rerun finds every image done.
        let again = try ToolRunner.run(["batch", directory, "--model", model, "--output", output, "--max-length", "2"])
        #expect(again.status == 0 && again.standardError.contains("0 captioned, 0 failed, \(good.count + 1) skipped"),
                "\(again.standardError)")
    }
}
