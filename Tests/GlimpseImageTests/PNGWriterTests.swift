import Foundation
import GlimpseImage
import Testing

@Suite("Writing PNG files")
struct PNGWriterTests {
    func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("glimpse-png-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("RGB round-trips through libpng exactly")
    func rgbRoundTrip() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let image = RGBImage(width: 7, height: 5, pixels: (0..<105).map { UInt8(($0 * 37) % 256) })
        let path = directory + "/out.png"
        try PNGWriter.write(image, to: path)
        let decoded = try ImageDecoder().decode(contentsOf: path)
        #expect(decoded.image == image)
        #expect(decoded.info.format == .png && decoded.info.channels == 3 && decoded.info.bitDepth == 8)
    }

    @Test("RGBA keeps its alpha channel")
    func rgbaKeepsAlpha() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pixels: [UInt8] = [255, 0, 0, 255, 0, 255, 0, 0, 0, 0, 255, 128, 10, 20, 30, 40]
        let path = directory + "/alpha.png"
        try PNGWriter.write(pixels: pixels, width: 2, height: 2, channels: 4, to: path)
        let decoded = try ImageDecoder().decode(contentsOf: path)
        #expect(decoded.info.channels == 4 && decoded.info.hasAlpha)
        #expect(decoded.image[0, 0] == (255, 0, 0))          // opaque
        #expect(decoded.image[1, 0] == (255, 255, 255))      // fully transparent: white
        #expect(decoded.image[0, 1] == (127, 127, 255))      // half transparent blue over white
    }

    @Test("writing replaces an existing file atomically and leaves no temporary file")
    func atomicReplace() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/sheet.png"
        try PNGWriter.write(RGBImage(width: 2, height: 2, fill: (1, 2, 3)), to: path)
        try PNGWriter.write(RGBImage(width: 3, height: 1, fill: (9, 8, 7)), to: path)
        let decoded = try ImageDecoder().decode(contentsOf: path)
        #expect(decoded.image == RGBImage(width: 3, height: 1, fill: (9, 8, 7)))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["sheet.png"])
    }

    @Test("a folder that does not exist gives an error naming the path")
    func missingFolder() {
        let path = "/nonexistent-glimpse-folder/out.png"
        #expect {
            try PNGWriter.write(RGBImage(width: 1, height: 1, fill: (0, 0, 0)), to: path)
        } throws: { error in
            (error as? ImageWritingError)?.path == path
        }
    }
}

@Suite("Writing JPEG files")
struct JPEGWriterTests {
    @Test("a written JPEG decodes back close to the original")
    func roundTrip() throws {
        var pixels = [UInt8](repeating: 0, count: 64 * 48 * 3)
        for y in 0..<48 { for x in 0..<64 {
            let index = 3 * (y * 64 + x)
            pixels[index] = UInt8(x * 4)
            pixels[index + 1] = UInt8(y * 5)
            pixels[index + 2] = 128
        } }
        let image = RGBImage(width: 64, height: 48, pixels: pixels)
        let bytes = try JPEGWriter.encode(image, quality: 95)
        let decoded = try ImageDecoder().decode(bytes).image
        #expect(decoded.width == 64 && decoded.height == 48)
        let meanError = zip(decoded.pixels, pixels).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) } / pixels.count
        #expect(meanError <= 2, "mean absolute error \(meanError) levels")
    }
}
