import Foundation
import GlimpseImage
import Testing
import GlimpseSupport

/// Every name the file system allows is captioned and recorded exactly once, losslessly:
/// names that are not UTF-8 (here Latin-1 "café"), and names that differ only in Unicode
/// normalisation (precomposed "é" and "e" + combining accent, equal to Swift's `==`).
@Suite("glimpse batch and caption: file names of any bytes")
struct FileNameOutputTests {
    static let latin1 = Array("caf".utf8) + [0xE9] + Array(".jpg".utf8)
    static let names: [[UInt8]] = [
        latin1, Array("caf\u{E9}.jpg".utf8), Array("cafe\u{301}.jpg".utf8), Array("tab\there 100%.jpg".utf8),
        Array("back\\slash.jpg".utf8), Array("d\u{E9}j\u{E0}/caf".utf8) + [0xE9] + Array(".png".utf8),
    ]

    static func photos(in folder: ScratchFolder) throws -> String {
        let directory = folder.path + "/photos"
        for (index, name) in names.enumerated() {
            let path = directory + "/" + FileName.string(fromBytes: name)
            try FileBytes.makeDirectories(FileBytes.parentDirectory(of: path))
            try JPEGWriter.write(TinyModel.image(width: 20 + index, height: 18, seed: index), to: path)
        }
        return directory
    }

    @Test("each format records every name once, with its exact bytes; a rerun finds all done", arguments: ["jsonl", "csv", "coco"])
    func batchFormats(format: String) throws {
        let (folder, model) = try TinyModel.folder()
        let directory = try Self.photos(in: folder)
        let output = folder.path + "/out." + format
        let outcome = try ToolRunner.run(["batch", directory, "--model", model, "--output", output, "--format", format, "--beam", "1"])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        #expect(outcome.standardError.contains("\(Self.names.count) captioned, 0 failed"), "\(outcome.standardError)")
        let recorded: [[UInt8]]
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: output)))
        switch format {
        case "csv":
            // Names as their exact bytes, quoted where RFC 4180 asks (the tab does not).
            var rows = bytes.split(separator: 0x0A).map { Array($0.dropLast()) }  // drop the CR
            #expect(rows.removeFirst() == Array("path,caption,logprob,error".utf8))
            recorded = rows.map { Array($0.prefix { $0 != UInt8(ascii: ",") }) }
        default:
            let items: [[String: Any]]
            if format == "coco" {
                items = try #require(JSONSerialization.jsonObject(with: Data(bytes)) as? [[String: Any]])
            } else {
                items = try bytes.split(separator: 0x0A).map { try #require(JSONSerialization.jsonObject(with: Data($0)) as? [String: Any]) }
            }
            let key = format == "coco" ? "image_id" : "path"
            recorded = try items.map { item in
                if let base64 = item[key + "_bytes"] as? String {
                    #expect(item[key] as? String == "caf\\xE9.jpg" || item[key] as? String == "d\u{E9}j\u{E0}/caf\\xE9.png")
                    return [UInt8](try #require(Data(base64Encoded: base64)))
                }
                return Array(try #require(item[key] as? String).utf8)
            }
        }
        #expect(recorded.sorted { $0.lexicographicallyPrecedes($1) } == Self.names.sorted { $0.lexicographicallyPrecedes($1) })

        let again = try ToolRunner.run(["batch", directory, "--model", model, "--output", output, "--format", format])
        #expect(again.status == 0, "\(again.standardError)")
        #expect(again.standardError.contains("0 captioned, 0 failed, \(Self.names.count) skipped"), "\(again.standardError)")
    }

    @Test("the gallery links each file by its percent-encoded bytes")
    func galleryLinks() throws {
        let (folder, model) = try TinyModel.folder()
        let directory = try Self.photos(in: folder)
        let page = folder.path + "/page.html"
        let outcome = try ToolRunner.run(["batch", directory, "--model", model, "--output", folder.path + "/o.jsonl", "--html", page])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        let html = try String(contentsOfFile: page, encoding: .utf8)
        for link in ["photos/caf%E9.jpg", "photos/caf%C3%A9.jpg", "photos/cafe%CC%81.jpg", "photos/tab%09here%20100%25.jpg",
                     "photos/back%5Cslash.jpg", "photos/d%C3%A9j%C3%A0/caf%E9.png"] {
            #expect(html.contains("href=\"\(link)\""), "\(link)")
        }
    }

    @Test("caption takes a non-UTF-8 name as given on the command line and prints it as \\xNN")
    func captionArgument() throws {
        let (folder, model) = try TinyModel.folder()
        _ = try Self.photos(in: folder)
        // The shell's glob hands over the name's exact bytes, as a user's shell does.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.currentDirectoryURL = URL(fileURLWithPath: folder.path)
        process.arguments = ["-c", "LC_ALL=C exec \"$0\" caption --model \"$1\" photos/caf?.jpg photos/back*", ToolRunner.executable, model]
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errors = String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(errors)")
        let paths = text.split(separator: "\n").map { String($0.prefix { $0 != "\t" }) }
        #expect(paths == ["photos/caf\\xE9.jpg", "photos/back\\\\slash.jpg"], "\(text)")
    }
}
