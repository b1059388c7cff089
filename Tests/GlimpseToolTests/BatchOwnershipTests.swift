import Foundation
import Testing

/// `glimpse batch` changes only files it can prove it wrote, and one run at a time.
@Suite("glimpse batch: output ownership and locking")
struct BatchOwnershipTests {
    /// Bytes and modification time: "untouched" means both.
    static func snapshot(_ path: String) throws -> (Data, Date?) {
        (try Data(contentsOf: URL(fileURLWithPath: path)),
         try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date)
    }

    @Test("a file batch did not write is refused, untouched, with the reason", arguments: [
        (["--format", "jsonl"], "out.jsonl", "[{\"image_id\": \"a.jpg\", \"caption\": \"a cat\"}]", "has no line end"),
        (["--format", "jsonl"], "out.jsonl", "{\"path\":\"a.jpg\",\"caption\":\"a cat\",\"logprob\":-1,\"model\":\"x\"}\n", "line 1 is not"),
        (["--format", "csv"], "out.csv", "name,caption,score,note\r\nx.jpg,a dog,1,\r\n", "first row is not the header"),
        (["--format", "csv", "--shard", "1/2"], "out.csv", "w,x,y,z\r\n", "row 1 is not a glimpse batch record"),
        (["--format", "coco"], "out.json", "[{\"caption\": \"a cat\", \"image_id\": \"a.jpg\"}]\n", "out.json.progress.jsonl beside it"),
    ])
    func refusesForeignFiles(flags: [String], name: String, contents: String, reason: String) throws {
        let (folder, model) = try TinyModel.folder()
        let (directory, _, _) = try BatchCommandTests.tree(in: folder, count: 2)
        let output = folder.path + "/" + name
        try Data(contents.utf8).write(to: URL(fileURLWithPath: output))
        Thread.sleep(forTimeInterval: 0.02)
        let before = try Self.snapshot(output)
        let outcome = try ToolRunner.run(["batch", directory, "--model", model, "--output", output] + flags)
        #expect(outcome.status != 0)
        #expect(outcome.standardError.contains(reason), "\(outcome.standardError)")
        #expect(outcome.standardError.contains(output), "\(outcome.standardError)")
        let after = try Self.snapshot(output)
        #expect(after.0 == before.0 && after.1 == before.1, "the file was changed")
        #expect(!FileManager.default.fileExists(atPath: output + ".progress.jsonl") || name != "out.json")
    }

    @Test("COCO: a results file beside its sidecar is rewritten; one that is not a results array is refused")
    func cocoResults() throws {
        let (folder, model) = try TinyModel.folder()
        let (directory, good, _) = try BatchCommandTests.tree(in: folder, count: 3)
        let output = folder.path + "/out.json"
        let first = try ToolRunner.run(["batch", directory, "--model", model, "--output", output, "--format", "coco"])
        #expect(FileManager.default.fileExists(atPath: output), "\(first.standardError)")
        let again = try ToolRunner.run(["batch", directory, "--model", model, "--output", output, "--format", "coco"])
        #expect(again.status == 0, "\(again.standardError)")
        let items = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output))) as? [[String: String]])
        #expect(items.count == good.count)

        try Data("{\"results\": []}\n".utf8).write(to: URL(fileURLWithPath: output))
        let refused = try ToolRunner.run(["batch", directory, "--model", model, "--output", output, "--format", "coco"])
        #expect(refused.status != 0)
        #expect(refused.standardError.contains("is not a COCO results array as glimpse batch writes it"), "\(refused.standardError)")
        #expect(try String(contentsOfFile: output, encoding: .utf8) == "{\"results\": []}\n")
    }

    @Test("an existing --html page that batch did not write is refused, untouched")
    func foreignPage() throws {
        let (folder, model) = try TinyModel.folder()
        let (directory, _, _) = try BatchCommandTests.tree(in: folder, count: 2)
        let page = folder.path + "/index.html"
        try Data("<html><body>my notes</body></html>\n".utf8).write(to: URL(fileURLWithPath: page))
        let outcome = try ToolRunner.run(["batch", directory, "--model", model, "--output", folder.path + "/o.jsonl", "--html", page])
        #expect(outcome.status != 0)
        #expect(outcome.standardError.contains("\(page): exists and is not a gallery page"), "\(outcome.standardError)")
        #expect(try String(contentsOfFile: page, encoding: .utf8) == "<html><body>my notes</body></html>\n")
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/o.jsonl"), "the output was created before the refusal")
        // A page batch wrote is replaced on the next run (status 1: the corrupt image fails in the first).
        try FileManager.default.removeItem(atPath: page)
        let first = try ToolRunner.run(["batch", directory, "--model", model, "--output", folder.path + "/o.jsonl", "--html", page])
        #expect(first.status == 1 && first.standardError.contains(" captioned, "), "\(first.standardError)")
        let second = try ToolRunner.run(["batch", directory, "--model", model, "--output", folder.path + "/o.jsonl", "--html", page])
        #expect(second.status == 0, "\(second.standardError)")
    }

    @Test("an output locked by another process is refused at once, naming that process")
    func lockedOutput() throws {
        let (folder, model) = try TinyModel.folder()
        let (directory, _, _) = try BatchCommandTests.tree(in: folder, count: 2)
        let output = folder.path + "/out.jsonl"
        // This test process plays the other run: it holds the lock as a run does.
        let descriptor = open(output, O_RDWR | O_CREAT | O_APPEND, 0o644)
        #expect(descriptor >= 0 && flock(descriptor, LOCK_EX | LOCK_NB) == 0)
        defer { close(descriptor) }
        let started = Date()
        let outcome = try ToolRunner.run(["batch", directory, "--model", model, "--output", output], timeout: 60)
        #expect(!outcome.timedOut && Date().timeIntervalSince(started) < 30)
        #expect(outcome.status != 0)
        #expect(outcome.standardError.contains("another glimpse batch run is writing to it (process \(getpid())"), "\(outcome.standardError)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: output)).isEmpty)
    }

    @Test("two runs started together on one output: one refuses or finds all done; every image is recorded once", arguments: ["jsonl", "csv", "coco"])
    func concurrentRuns(format: String) throws {
        let (folder, model) = try TinyModel.folder()
        let (directory, good, bad) = try BatchCommandTests.tree(in: folder, count: 24)
        let output = folder.path + "/out." + format
        final class Box: @unchecked Sendable { var outcomes: [ToolRunner.Outcome?] = [nil, nil] }
        let box = Box()
        DispatchQueue.concurrentPerform(iterations: 2) { index in
            let outcome = try? ToolRunner.run(["batch", directory, "--model", model, "--output", output, "--format", format,
                                               "--beam", "1"], timeout: 120)
            box.outcomes[index] = outcome
        }
        let outcomes = box.outcomes.compactMap { $0 }
        #expect(outcomes.count == 2 && outcomes.allSatisfy { !$0.timedOut })
        // Each run either captioned (perhaps finding everything done) or was refused, naming the other.
        for outcome in outcomes {
            let refused = outcome.standardError.contains("another glimpse batch run is writing to it (process ")
                && outcome.standardError.contains("glimpse batch \(directory)")
            #expect(refused != outcome.standardError.contains(" captioned, "), "\(outcome.standardError)")
        }
        let progress = format == "coco" ? output + ".progress.jsonl" : output
        let text = try String(contentsOfFile: progress, encoding: .utf8)
        var lines = text.components(separatedBy: format == "csv" ? "\r\n" : "\n").filter { !$0.isEmpty }
        if format == "csv" {
            #expect(lines.first == "path,caption,logprob,error")
            lines.removeFirst()
        }
        let paths = lines.map { line in
            format == "csv" ? String(line.prefix { $0 != "," })
                : (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["path"] as? String ?? "?"
        }
        #expect(paths.sorted() == (good + [bad]).sorted(), "\(paths)")
    }

    @Test("--html naming the output itself is refused before anything is written")
    func pageIsOutput() throws {
        let (folder, model) = try TinyModel.folder()
        let (directory, _, _) = try BatchCommandTests.tree(in: folder, count: 2)
        let output = folder.path + "/out.jsonl"
        let outcome = try ToolRunner.run(["batch", directory, "--model", model, "--output", output, "--html", output])
        #expect(outcome.status != 0)
        #expect(outcome.standardError.contains("--html names the output file"), "\(outcome.standardError)")
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    @Test("a large foreign file is refused from its beginning")
    func largeForeignFile() throws {
        let (folder, model) = try TinyModel.folder()
        let (directory, _, _) = try BatchCommandTests.tree(in: folder, count: 2)
        let output = folder.path + "/out.jsonl"
        // A 1 MB JSON array on one line.
        let array = "[" + Array(repeating: "{\"image_id\":\"a.jpg\",\"caption\":\"a cat\"}", count: 25_000).joined(separator: ",") + "]\n"
        try Data(array.utf8).write(to: URL(fileURLWithPath: output))
        let outcome = try ToolRunner.run(["batch", directory, "--model", model, "--output", output])
        #expect(outcome.status != 0)
        #expect(outcome.standardError.contains("its first 64 KB hold no line end"), "\(outcome.standardError)")
        #expect(try String(contentsOfFile: output, encoding: .utf8) == array)
    }
}
