import Foundation
import GlimpseData
import GlimpseSynth
import Testing

@Suite("Ground truth of synthetic scenes")
struct GroundTruthTests {
    @Test("synth writes ground_truth.jsonl beside the captions, one line per image, read back to the scenes")
    func writtenBesideTheCaptions() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("glimpse-truth-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let dataset = SyntheticDataset(count: 30, seed: 8)
        try dataset.write(to: folder)
        let path = folder + "/ground_truth.jsonl"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.split(separator: "\n").count == 30)
        let truths = try GroundTruthFile.read(path)
        let loaded = try DatasetLoader().load(folder)
        #expect(Set(truths.keys) == Set(loaded.images.map(\.id)), "keyed by the dataset's image ids")
        #expect(GroundTruthFile.locate(captionSource: loaded.captionSource, root: loaded.root) == path)
        for index in 0..<30 {
            let item = dataset.item(index)
            let read = try #require(truths[item.fileName])
            let made = item.groundTruth
            #expect(read.objects.map(\.shape) == made.objects.map(\.shape) && read.objects.map(\.color) == made.objects.map(\.color))
            #expect(read.objects.map(\.size) == made.objects.map(\.size) && read.objects.map(\.position) == made.objects.map(\.position))
            #expect(read.relation == made.relation && read.layout == made.layout)
            #expect(read.width == item.scene.width && read.height == item.scene.height)
            for (object, scene) in zip(read.objects, item.scene.objects) {
                #expect(abs(object.centerX! - scene.centerX) <= 0.005 && abs(object.centerY! - scene.centerY) <= 0.005)
                #expect(abs(object.radius! - scene.radius) <= 0.005)
            }
        }
    }

    @Test("each object's position is where it is drawn")
    func positionsAgreeWithTheDrawing() {
        for item in calibrationItems() {
            let truth = item.groundTruth
            let (width, height) = (Double(item.scene.width), Double(item.scene.height))
            #expect(truth.objects.count == item.scene.objects.count)
            for (object, drawn) in zip(truth.objects, item.scene.objects) {
                #expect(object.shape == drawn.kind && object.color == drawn.color && object.size == drawn.size)
                let (x, y) = (drawn.centerX / width, drawn.centerY / height)
                switch object.position {
                case .left: #expect(x < 0.4, "\(item.fileName): left at x \(x)")
                case .right: #expect(x > 0.6, "\(item.fileName): right at x \(x)")
                case .top: #expect(y < 0.4, "\(item.fileName): top at y \(y)")
                case .bottom: #expect(y > 0.6, "\(item.fileName): bottom at y \(y)")
                case .center: #expect(abs(x - 0.5) < 0.1, "\(item.fileName): middle at x \(x)")
                }
            }
        }
    }

    @Test("a malformed file is an error naming the file, the line and the cause", arguments: [
        ("not json", "line 1", "not valid JSON"),
        (#"[1, 2]"#, "line 1", "expected a JSON object"),
        (#"{"objects": [{"shape": "circle", "color": "red", "size": "small", "position": "left"}]}"#, "line 1", #"no "image" string"#),
        (#"{"image": "a.jpg", "objects": []}"#, "line 1", #"no "objects" array"#),
        (#"{"image": "a.jpg", "objects": [{"shape": "hexagon", "color": "red", "size": "small", "position": "left"}]}"#,
         "line 1", "objects[0].shape must be one of circle, square, triangle, diamond, star, found hexagon"),
        (#"{"image": "a.jpg", "objects": [{"shape": "circle", "color": "red", "size": "small"}]}"#,
         "line 1", "objects[0].position must be one of left, right, top, bottom, center, found nothing"),
        (#"{"image": "a.jpg", "relation": "inside", "objects": [{"shape": "circle", "color": "red", "size": "small", "position": "left"}]}"#,
         "line 1", #""relation" must be null or one of above, below, left_of, right_of"#),
        (#"{"image": "a.jpg", "layout": "pair", "objects": [{"shape": "circle", "color": "red", "size": "small", "position": "left"}]}"#,
         "line 1", "a pair layout has 2 object(s), found 1"),
        ("\n" + #"{"image": "a.jpg", "width": -3, "objects": [{"shape": "circle", "color": "red", "size": "small", "position": "left"}]}"#,
         "line 2", #""width" must be a positive whole number"#),
    ])
    func malformed(text: String, line: String, cause: String) {
        let path = "/data/synth/ground_truth.jsonl"
        do {
            _ = try GroundTruthFile.parse(text, path: path)
            Issue.record("accepted \(text)")
        } catch {
            let number = line.split(separator: " ").last!
            #expect(error.description.hasPrefix("\(path):\(number): malformed ground truth: "), "\(error)")
            #expect(error.description.contains(cause), "\(error)")
        }
    }

    @Test("an image twice, or a file that cannot be read, is an error too")
    func duplicatesAndUnreadable() throws {
        let line = #"{"image": "a.jpg", "objects": [{"shape": "circle", "color": "red", "size": "small", "position": "left"}]}"#
        #expect(throws: GroundTruthError.duplicateImage(path: "t.jsonl", line: 3, image: "a.jpg", firstLine: 1)) {
            try GroundTruthFile.parse(line + "\n\n" + line + "\n", path: "t.jsonl")
        }
        let missing = "/nonexistent-\(UUID().uuidString)/ground_truth.jsonl"
        do {
            _ = try GroundTruthFile.read(missing)
            Issue.record("read a missing file")
        } catch {
            #expect(error.description.hasPrefix("\(missing): cannot read the ground truth"), "\(error)")
        }
    }

    @Test("a line round-trips through the file format")
    func roundTrip() throws {
        let item = SyntheticDataset(count: 10, seed: 12).item(7)
        let truth = item.groundTruth
        let read = try #require(try GroundTruthFile.parse(GroundTruthFile.line(truth), path: "t")[item.fileName])
        #expect(read.objects.map(\.position) == truth.objects.map(\.position) && read.image == truth.image)
        #expect(GroundTruthFile.line(read) == GroundTruthFile.line(truth))
    }
}
