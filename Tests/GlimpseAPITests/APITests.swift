import Foundation
import Glimpse
import Testing

/// The library as an app uses it: `import Glimpse`, the shipped model, files, pixels, folders.
@Suite("The Swift API")
struct APITests {
    static let samples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../samples/Images").standardizedFileURL.path

    @Test("the shipped model captions a file, its pixels and its folder alike")
    func captions() throws {
        let captioner = try Captioner.shipped()
        let file = Self.samples + "/synth-000009.jpg"
        #expect(try captioner.sentence(forFile: file) == "a small white circle on the left")

        let image = try ImageDecoder().decode(contentsOf: file).image
        #expect(captioner.text(captioner.caption(image: image).best) == "a small white circle on the left")

        let all = captioner.caption(paths: [Self.samples], batchSize: 4, threads: 2)
        #expect(all.count == 10)
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.samples).sorted()
        #expect(all.map { ($0.path as NSString).lastPathComponent } == names)
        // Captioned in batches of 4 or alone: the same words (sums in another order differ in the last bits).
        for item in all.prefix(3) {
            let single = try captioner.caption(file: item.path)
            #expect(item.result?.best.tokens == single.best.tokens, "\(item.path)")
            #expect(abs((item.result?.best.logProbability ?? 0) - single.best.logProbability) < 1e-5)
        }
    }

    @Test("n-best with log-probabilities, best first")
    func nBest() throws {
        let captioner = try Captioner.shipped()
        let result = try captioner.caption(file: Self.samples + "/synth-000001.jpg", options: DecodingOptions(beamSize: 4, nBest: 3))
        #expect(result.hypotheses.count == 3)
        #expect(zip(result.hypotheses, result.hypotheses.dropFirst()).allSatisfy { $0.score >= $1.score })
    }

    @Test("errors name the file and the cause")
    func errors() {
        #expect {
            _ = try Captioner(contentsOf: "/nonexistent/model.safetensors")
        } throws: { error in
            guard case .checkpoint = error as? CaptioningError else { return false }
            return "\(error)".contains("/nonexistent/model.safetensors")
        }
        #expect {
            _ = try Captioner.shipped().caption(file: "/nonexistent/photo.jpg")
        } throws: { error in
            guard case .image = error as? CaptioningError else { return false }
            return "\(error)".contains("/nonexistent/photo.jpg")
        }
        let results = (try? Captioner.shipped())?.caption(paths: ["/nonexistent/photo.jpg"]) ?? []
        #expect(results.count == 1 && results[0].result == nil && results[0].error?.contains("No such file") == true)
    }
}
