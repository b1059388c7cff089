import Foundation
import GlimpseData
import GlimpseImage
import Testing

@Suite("The decoded-image cache")
struct ImageCacheTests {
    /// Writes a 40x30 PNG whose colour depends on `shade`.
    func writeImage(_ path: String, shade: UInt8) throws {
        var pixels = [UInt8](repeating: 0, count: 40 * 30 * 3)
        for index in 0..<(40 * 30) {
            pixels[3 * index] = shade
            pixels[3 * index + 1] = UInt8(index % 256)
            pixels[3 * index + 2] = 255 &- shade
        }
        try PNGWriter.write(RGBImage(width: 40, height: 30, pixels: pixels), to: path)
    }

    @Test("holds exactly the pixels the preprocessing would produce, and reuses them")
    func fillAndReuse() throws {
        let folder = try DatasetFolder()
        let paths = (0..<5).map { folder.path + "/image\($0).png" }
        for (index, path) in paths.enumerated() { try writeImage(path, shade: UInt8(index * 40)) }
        try folder.write("not an image", to: "bad.png")
        let preprocessing = Preprocessing(imageSize: 16)

        let cache = try ImageCache(directory: folder.path + "/cache", preprocessing: preprocessing)
        let report = try cache.fill(paths + [folder.path + "/bad.png"])
        #expect(report.decoded == 5 && report.reused == 0)
        #expect(report.failures.map(\.path) == [folder.path + "/bad.png"])
        for path in paths {
            let expected = preprocessing.resized(try ImageDecoder().decode(contentsOf: path).image).pixels
            #expect(cache.pixels(for: path).map(Array.init) == expected)
        }

        // A second cache over the same folder reads the index: nothing is decoded again.
        let reopened = try ImageCache(directory: folder.path + "/cache", preprocessing: preprocessing)
        let second = try reopened.fill(paths + [folder.path + "/bad.png"])
        #expect(second.decoded == 0 && second.reused == 5 && second.failures.count == 1)
        #expect(reopened.pixels(for: paths[3]).map(Array.init) == cache.pixels(for: paths[3]).map(Array.init))
    }

    @Test("a changed file is decoded again")
    func changedFile() throws {
        let folder = try DatasetFolder()
        let path = folder.path + "/a.png"
        try writeImage(path, shade: 10)
        let preprocessing = Preprocessing(imageSize: 8)
        let cache = try ImageCache(directory: folder.path + "/cache", preprocessing: preprocessing)
        try cache.fill([path])
        let before = cache.pixels(for: path).map(Array.init)
        // Different content and a different modification time.
        try writeImage(path, shade: 200)
        let later = Date().addingTimeInterval(5)
        try FileManager.default.setAttributes([.modificationDate: later], ofItemAtPath: path)
        #expect(!cache.contains(path))
        let report = try cache.fill([path])
        #expect(report.decoded == 1)
        #expect(cache.pixels(for: path).map(Array.init) != before)
    }

    @Test("different image sizes live side by side")
    func sizes() throws {
        let folder = try DatasetFolder()
        let path = folder.path + "/a.png"
        try writeImage(path, shade: 99)
        let small = try ImageCache(directory: folder.path + "/cache", preprocessing: Preprocessing(imageSize: 8))
        let large = try ImageCache(directory: folder.path + "/cache", preprocessing: Preprocessing(imageSize: 12))
        try small.fill([path])
        try large.fill([path])
        #expect(small.pixels(for: path)?.count == 8 * 8 * 3)
        #expect(large.pixels(for: path)?.count == 12 * 12 * 3)
    }
}
