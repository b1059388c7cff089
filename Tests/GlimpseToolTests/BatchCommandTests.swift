import Foundation
import GlimpseImage
import Testing

@Suite("glimpse batch")
struct BatchCommandTests {
    /// A folder tree of `count` good images, one corrupt image, a text file and hidden entries.
    static func tree(in folder: ScratchFolder, count: Int = 7) throws -> (directory: String, good: [String], bad: String) {
        let directory = folder.path + "/photos"
        var good: [String] = []
        for index in 0..<count {
            let relative = index % 3 == 0 ? "nested/deeper/img\(index).png" : "img\(index).jpg"
            try FileManager.default.createDirectory(atPath: ((directory + "/" + relative) as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            let image = TinyModel.image(width: 20 + index, height: 18, seed: index)
            if relative.hasSuffix(".png") {
                try PNGWriter.write(image, to: directory + "/" + relative)
            } else {
                try JPEGWriter.write(image, to: directory + "/" + relative)
            }
            good.append(relative)
        }
        try folder.copy(fixture: "truncated.jpg", as: "photos/cut.jpg")
        try folder.write(Array("notes\n".utf8), to: "photos/readme.txt")
        try folder.copy(fixture: "png-gray8.png", as: "photos/.hidden.png")
        try folder.copy(fixture: "png-gray8.png", as: "photos/.cache/inside.png")
        return (directory, good.sorted(), "cut.jpg")
    }

    static func jsonLines(_ path: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try text.split(separator: "\n").map {
            try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    @Test("JSON Lines: every image once, by path relative to the folder; the corrupt one as an error; hidden and non-images skipped")
    func jsonLines() throws {
        let (folder, model) = try TinyModel.folder()
        let (directory, good, bad) = try Self.tree(in: folder)
        let output = folder.path + "/out.jsonl"
        let outcome = try ToolRunner.run(["batch", directory, "--model", model, "--output", output, "--batch-size", "3", "--beam", "1"])
        #expect(outcome.status == 1, "\(outcome.standardError)")
        let objects = try Self.jsonLines(output)
        #expect(objects.count == good.count + 1)
        let paths = objects.compactMap { $0["path"] as? String }
        #expect(Set(paths) == Set(good + [bad]))
        for object in objects where object["path"] as? String != bad {
            #expect((object["caption"] as? String).map { !$0.isEmpty } == true)
            #expect(object["logprob"] is Double)
        }
        #expect(objects.contains { $0["path"] as? String == bad && ($0["error"] as? String)?.contains("truncated") == true })
        #expect(outcome.errorLines.contains { $0.hasPrefix(directory + "/cut.jpg: truncated") }, "\(outcome.errorLines)")
        #expect(outcome.errorLines.contains { $0.contains("\(good.count) captioned, 1 failed, 0 skipped as already done") },
                "\(outcome.errorLines)")
    }

    @Test("CSV: header then one RFC 4180 row per image; COCO: an array of {image_id, caption} for the captioned images")
    func csvAndCOCO() throws {
        let (folder, model) = try TinyModel.folder()
        let (directory, good, bad) = try Self.tree(in: folder)
        // A name whose extension picks no format, so that --format alone decides.
        let csv = folder.path + "/out.txt"
        _ = try ToolRunner.run(["batch", directory, "--model", model, "--output", csv, "--format", "csv"])
        let text = try String(contentsOfFile: csv, encoding: .utf8)
        let rows = text.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(rows.first == "path,caption,logprob,error")
        #expect(rows.count == good.count + 2)
        #expect(rows.contains { $0.hasPrefix(bad + ",,,") })
        for row in rows.dropFirst() where !row.hasPrefix(bad) {
            let fields = row.split(separator: ",", omittingEmptySubsequences: false)
            #expect(fields.count == 4 && Double(fields[2]) != nil && fields[3].isEmpty, "\(row)")
        }

        let coco = folder.path + "/results.json"
        let outcome = try ToolRunner.run(["batch", directory, "--model", model, "--output", coco, "--format", "coco"])
        #expect(outcome.status == 1)
        let array = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: coco))) as? [[String: Any]])
        #expect(array.compactMap { $0["image_id"] as? String }.sorted() == good)
        #expect(array.allSatisfy { ($0["caption"] as? String).map { !$0.isEmpty } == true })
    }

    @Test("resume: a rerun skips the images done and redoes a cut last line")
    func resume() throws {
        let (folder, model) = try TinyModel.folder()
        let (directory, good, _) = try Self.tree(in: folder)
        let output = folder.path + "/out.jsonl"
        _ = try ToolRunner.run(["batch", directory, "--model", model, "--output", output, "--beam", "1"])
        // Keep the first three lines, then a torn fourth as an interrupted write leaves it.
        let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
        let torn = lines.prefix(3).joined(separator: "\n") + "\n" + lines[3].prefix(10)
        try Data(torn.utf8).write(to: URL(fileURLWithPath: output))

        let outcome = try ToolRunner.run(["batch", directory, "--model", model, "--output", output, "--beam", "1"])
        let objects = try Self.jsonLines(output)
        let paths = objects.compactMap { $0["path"] as? String }
        #expect(paths.count == good.count + 1, "\(paths)")
        #expect(Set(paths).count == paths.count, "an image was written twice")
        #expect(outcome.errorLines.contains { $0.contains("skipped as already done") && $0.contains(" 3 skipped") },
                "\(outcome.errorLines)")

        // Everything done: nothing captioned, nothing appended, exit status 0.
        let again = try ToolRunner.run(["batch", directory, "--model", model, "--output", output, "--beam", "1"])
        #expect(again.status == 0, "\(again.standardError)")
        #expect(try Self.jsonLines(output).count == paths.count)
        #expect(again.errorLines.contains { $0.contains("0 captioned, 0 failed, \(paths.count) skipped") }, "\(again.errorLines)")
    }

    @Test("resume refuses to append to a file that is not this format's output, naming it and the line")
    func refusesForeignOutput() throws {
        let (folder, model) = try TinyModel.folder()
        let (directory, _, _) = try Self.tree(in: folder, count: 2)
        // A name whose extension picks no format, so that --format alone decides.
        let csv = folder.path + "/out.txt"
        _ = try ToolRunner.run(["batch", directory, "--model", model, "--output", csv, "--format", "csv"])
        let before = try String(contentsOfFile: csv, encoding: .utf8)
        let outcome = try ToolRunner.run(["batch", directory, "--model", model, "--output", csv, "--format", "jsonl"])
        #expect(outcome.status != 0)
        #expect(outcome.standardError.contains("\(csv): line 1 is not a glimpse batch record"), "\(outcome.standardError)")
        #expect(outcome.standardError.contains("left untouched"), "\(outcome.standardError)")
        #expect(try String(contentsOfFile: csv, encoding: .utf8) == before, "the file was changed")
    }

    @Test("--shard auto in a Slurm array task captions that task's share, and says where the share came from")
    func shardAuto() throws {
        let (folder, model) = try TinyModel.folder()
        let (directory, _, _) = try BatchCommandTests.tree(in: folder, count: 12)
        var captioned: [String] = []
        for task in 1...3 {
            let output = folder.path + "/auto\(task).jsonl"
            let outcome = try ToolRunner.run(["batch", directory, "--model", model, "--output", output, "--shard", "auto", "--beam", "1"],
                                             environment: ["SLURM_ARRAY_TASK_ID": "\(task)", "SLURM_ARRAY_TASK_MIN": "1",
                                                           "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_PROCID": nil,
                                                           "OMPI_COMM_WORLD_RANK": nil, "PMI_RANK": nil])
            // The tree holds one truncated JPEG: its shard ends with status 1, having recorded it.
            #expect(outcome.status == 0 || outcome.standardError.contains("cut.jpg: truncated JPEG file"), "\(outcome.standardError)")
            #expect(outcome.standardError.contains("batch: shard \(task - 1)/3 from SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN of "
                                                   + "SLURM_ARRAY_TASK_COUNT"), "\(outcome.standardError)")
            let given = try ToolRunner.run(["batch", directory, "--model", model, "--output", folder.path + "/given\(task).jsonl",
                                            "--shard", "\(task - 1)/3", "--beam", "1"])
            #expect(given.status == outcome.status)
            let records = try String(contentsOfFile: output, encoding: .utf8)
            #expect(records == (try String(contentsOfFile: folder.path + "/given\(task).jsonl", encoding: .utf8)),
                    "auto and \(task - 1)/3 captioned different files")
            captioned += records.split(separator: "\n").map(String.init)
        }
        #expect(Set(captioned).count == captioned.count && captioned.count >= 12)
        // No scheduler: refused, naming what it looked for.
        let none = try ToolRunner.run(["batch", directory, "--model", model, "--output", folder.path + "/none.jsonl", "--shard", "auto"],
                                      environment: ["SLURM_ARRAY_TASK_ID": nil, "SLURM_PROCID": nil, "OMPI_COMM_WORLD_RANK": nil,
                                                    "PMI_RANK": nil])
        #expect(none.status == 1 && none.standardError.contains("--shard auto: no scheduler's share in the environment"),
                "\(none.standardError)")
    }

    @Test("shards partition the files: disjoint, and together every file; CSV shards concatenate under one header")
    func shards() throws {
        let (folder, model) = try TinyModel.folder()
        let (directory, good, bad) = try Self.tree(in: folder, count: 12)
        var seen: [String] = []
        var concatenated = ""
        for index in 0..<3 {
            let output = folder.path + "/shard\(index).csv"
            _ = try ToolRunner.run(["batch", directory, "--model", model, "--output", output, "--format", "csv",
                                    "--shard", "\(index)/3", "--beam", "1"])
            let text = try String(contentsOfFile: output, encoding: .utf8)
            concatenated += text
            let rows = text.components(separatedBy: "\r\n").filter { !$0.isEmpty }
            #expect(rows.first == "path,caption,logprob,error" || index > 0)
            seen += rows.filter { $0 != "path,caption,logprob,error" }.map { String($0.split(separator: ",")[0]) }
        }
        #expect(seen.count == good.count + 1, "\(seen)")
        #expect(Set(seen) == Set(good + [bad]))
        #expect(concatenated.components(separatedBy: "path,caption,logprob,error").count == 2, "exactly one header")
    }

    @Test("--html with --attention: a page linking every image by relative path, and a decodable sheet per captioned image")
    func html() throws {
        let (folder, model) = try TinyModel.folder()
        let (directory, good, _) = try Self.tree(in: folder, count: 3)
        let page = folder.path + "/report/index.html"
        // report/ does not exist yet: batch makes it.
        _ = try ToolRunner.run(["batch", directory, "--model", model, "--output", folder.path + "/out.jsonl",
                                "--html", page, "--attention"])
        let text = try String(contentsOfFile: page, encoding: .utf8)
        #expect(text.hasPrefix("<!DOCTYPE html>"))
        for relative in good {
            #expect(text.contains("src=\"../photos/\(relative)\""), "\(relative)")
            let sheet = try ImageDecoder().decode(contentsOf: folder.path + "/report/index_attention/" + relative + ".png").image
            #expect(sheet.width > 0)
            #expect(text.contains("index_attention/\(relative).png"))
        }
    }
}
