import Foundation
import GlimpseImage
import GlimpseSynth
import GlimpseTensor
import Testing

/// The model that ships with Glimpse: found without --model, and still as good on the
/// committed samples as when it was shipped (a changed file, a broken lookup or a
/// preprocessing change that silently degrades captions fails here).
@Suite("The shipped default model")
struct DefaultModelTests {
    static let samples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("samples").path

    @Test("captions a sample with no --model flag")
    func captionsWithoutFlag() throws {
        let outcome = try ToolRunner.run(["caption", Self.samples + "/Images/synth-000009.jpg"])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        let caption = outcome.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(caption.split(separator: " ").count >= 3, "caption: \(caption)")
        #expect(caption.contains("white") && caption.contains("circle"), "caption: \(caption)")
    }

    @Test("scores on the ten samples as when it shipped (beam 3: BLEU-4 0.97, CIDEr-D 6.06, every object right in 9 of 10)")
    func qualityOnSamples() throws {
        let outcome = try ToolRunner.run(["evaluate", Self.samples, "--split", "all", "--beam", "3", "--json"])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        let scores = try #require(try JSONSerialization.jsonObject(with: Data(outcome.standardOutput.utf8)) as? [String: Any])
        #expect(scores["images"] as? Int == 10)
        // The same model, images and search give the same captions; float rounding may
        // move a score in its last digits, never by 0.01.
        let bleu4 = try #require(scores["Bleu_4"] as? Double), cider = try #require(scores["CIDEr"] as? Double)
        #expect(abs(bleu4 - 0.96507) < 0.01, "BLEU-4 \(bleu4)")
        #expect(abs(cider - 6.05759) < 0.01, "CIDEr-D \(cider)")
        // samples/ground_truth.jsonl: the content scores. Sample 7's black triangle is called blue.
        let content = try #require(scores["content"] as? [String: Any])
        #expect(content["exact_match"] as? Double == 0.9, "\(content)")
        #expect(content["shape_precision"] as? Double == 1, "\(content)")
    }
}

/// The shipped model's feature summary (`glimpse calibrate`): images unlike its synthetic
/// training scenes are flagged, fresh scenes are not. The photographs the issue names are not
/// committed (Scripts/fetch_sample_photos.py fetches them; Docs/model.md, "Knowing what it does not
/// know", gives the measured rates); in their place, smooth random textures, which no scene has.
@Suite("The shipped model flags unfamiliar images")
struct DefaultModelFamiliarityTests {
    /// A texture of value noise: random colours on grids of 4 to 32 cells, bilinearly
    /// interpolated and summed with weights ∝ cell size (a natural image's 1/f falloff).
    static func texture(side: Int, seed: UInt64) -> RGBImage {
        var generator = SeededGenerator(seed: seed)
        var sums = [Float](repeating: 0, count: side * side * 3)
        var totalWeight: Float = 0
        for cells in [4, 8, 16, 32] {
            let weight = 1 / Float(cells)
            totalWeight += weight
            let grid = (0..<((cells + 1) * (cells + 1) * 3)).map { _ in Float(generator.next() >> 40) / Float(1 << 24) }
            for y in 0..<side {
                let gy = Float(y) / Float(side) * Float(cells), y0 = Int(gy), fy = gy - Float(y0)
                for x in 0..<side {
                    let gx = Float(x) / Float(side) * Float(cells), x0 = Int(gx), fx = gx - Float(x0)
                    for channel in 0..<3 {
                        func at(_ row: Int, _ column: Int) -> Float { grid[(row * (cells + 1) + column) * 3 + channel] }
                        let top = at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx
                        let bottom = at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx
                        sums[(y * side + x) * 3 + channel] += weight * (top * (1 - fy) + bottom * fy)
                    }
                }
            }
        }
        return RGBImage(width: side, height: side, pixels: sums.map { UInt8(max(0, min(255, $0 / totalWeight * 255))) })
    }

    @Test("random textures are flagged in caption's warning and --json; fresh synthetic scenes are not")
    func flags() throws {
        let scratch = try ScratchFolder()
        let textures = scratch.path + "/textures", scenes = scratch.path + "/scenes"
        try FileManager.default.createDirectory(atPath: textures, withIntermediateDirectories: true)
        for index in 0..<10 {
            try PNGWriter.write(Self.texture(side: 96, seed: UInt64(index)), to: textures + "/texture-\(index).png")
        }
        // Scenes of a seed the model was neither trained (11) nor calibrated (12) on.
        try SyntheticDataset(count: 30, seed: 4242).write(to: scenes)

        func unfamiliar(_ folder: String) throws -> (flagged: [String], count: Int, warnings: [String]) {
            let outcome = try ToolRunner.run(["caption", folder, "--json", "--beam", "1"])
            #expect(outcome.status == 0, "\(outcome.standardError)")
            var flagged: [String] = [], count = 0
            for line in outcome.outputLines {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                let isUnfamiliar = try #require(object["unfamiliar"] as? Bool, "no unfamiliar field: \(line)")
                #expect(object["familiarity_distance"] is Double)
                count += 1
                if isUnfamiliar { flagged.append(object["path"] as? String ?? "") }
            }
            return (flagged, count, outcome.errorLines.filter { $0.contains("looks unlike the images this model was trained on") })
        }
        let textureResult = try unfamiliar(textures)
        #expect(textureResult.count == 10 && textureResult.flagged.count == 10, "textures flagged: \(textureResult.flagged)")
        #expect(textureResult.warnings.count == 10)
        #expect(textureResult.warnings.first?.contains("texture-0.png") == true, "\(textureResult.warnings)")
        let sceneResult = try unfamiliar(scenes + "/Images")
        // 5% is the issue's bar; calibrated at 99%, about 1% are expected (0.4% and 0.8% on 500 and 1 000 scenes).
        #expect(sceneResult.count == 30 && sceneResult.flagged.count <= 1, "scenes flagged: \(sceneResult.flagged)")
        #expect(sceneResult.warnings.count == sceneResult.flagged.count)

        // batch: each record says so, the summary counts them, the gallery marks them.
        let output = scratch.path + "/out.jsonl", page = scratch.path + "/page.html"
        let batch = try ToolRunner.run(["batch", textures, "--output", output, "--html", page, "--beam", "1"])
        #expect(batch.status == 0, "\(batch.standardError)")
        let records = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
        #expect(records.count == 10 && records.allSatisfy { $0.contains(#""unfamiliar":true,"familiarity_distance":"#) },
                "\(records)")
        #expect(batch.standardError.contains("glimpse: warning: 10 images of 10 look unlike the images this model was trained on"),
                "\(batch.standardError)")
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(html.components(separatedBy: "unlike the model's training images").count - 1 == 10)
    }
}

@Suite("glimpse calibrate")
struct CalibrateCommandTests {
    @Test("gives a model without a summary one, in place or at --out; caption then says how familiar each image is")
    func calibrates() throws {
        let (scratch, model) = try TinyModel.folder()
        let images = scratch.path + "/images"
        try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
        for index in 0..<30 { try PNGWriter.write(TinyModel.image(width: 24, height: 20, seed: index), to: images + "/\(index).png") }
        let before = try ToolRunner.run(["caption", images + "/0.png", "--model", model, "--json"])
        #expect(before.status == 0 && !before.standardOutput.contains("unfamiliar"), "\(before.standardOutput)")

        let calibrated = scratch.path + "/calibrated.safetensors"
        let outcome = try ToolRunner.run(["calibrate", model, images, "--out", calibrated])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        // Every fifth image held out: 24 measured, 6 setting the threshold.
        #expect(outcome.standardError.contains("measured 24 images, threshold "), "\(outcome.standardError)")
        #expect(outcome.standardError.contains("(99% of 6 held-out images at or below it); wrote \(calibrated)"),
                "\(outcome.standardError)")
        let after = try ToolRunner.run(["caption", images + "/0.png", "--model", calibrated, "--json"])
        #expect(after.status == 0 && after.standardOutput.contains("\"familiarity_distance\":"), "\(after.standardOutput)")
        #expect(try ToolRunner.run(["caption", images + "/0.png", "--model", model, "--json"]).standardOutput == before.standardOutput,
                "--out left the model as it was")
    }

    @Test("a quantile out of range, no images, or a file that is not a model is refused")
    func refusals() throws {
        let (scratch, model) = try TinyModel.folder()
        let quantile = try ToolRunner.run(["calibrate", model, scratch.path, "--quantile", "1.5"])
        #expect(quantile.status == 64 && quantile.standardError.contains("--quantile must be from 0.5 to 0.9999, got 1.5."))
        let empty = scratch.path + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let none = try ToolRunner.run(["calibrate", model, empty])
        #expect(none.status == 1 && none.standardError.contains("calibration needs images to measure and held-out images"),
                "\(none.standardError)")
        let notModel = try ToolRunner.run(["calibrate", scratch.path + "/nothing.safetensors", empty])
        #expect(notModel.status == 1 && notModel.standardError.contains("nothing.safetensors"), "\(notModel.standardError)")
    }
}
