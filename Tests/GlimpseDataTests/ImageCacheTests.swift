import Foundation
@testable import GlimpseData
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
        // The same S cropped torchvision's way is another cache, never the squashed one's pixels.
        let cropped = try ImageCache(directory: folder.path + "/cache", preprocessing: Preprocessing(imageSize: 8, resizeShortSide: 9))
        #expect(cropped.pixelsPath != small.pixelsPath && !cropped.contains(path))
    }

    @Test("a full disk part way through a fill: ENOSPC named with the file, the partial slots removed, the next fill completes")
    func fullDisk() throws {
        let folder = try DatasetFolder()
        let paths = (0..<150).map { folder.path + "/image\($0).png" }
        for (index, path) in paths.enumerated() { try writeImage(path, shade: UInt8(index)) }
        let preprocessing = Preprocessing(imageSize: 8)
        let cache = try ImageCache(directory: folder.path + "/cache", preprocessing: preprocessing)
        // Chunks of 64 images: the first is indexed, the disk fills inside the second.
        cache.writeFault = { slot in slot == 100 ? ENOSPC : nil }
        #expect {
            try cache.fill(paths, threads: 2)
        } throws: { error in
            let error = error as? ImageCacheError
            return error?.path == cache.pixelsPath
                && error?.reason == "cannot write: No space left on device; the images written part way were removed"
        }
        let size = try FileManager.default.attributesOfItem(atPath: cache.pixelsPath)[.size] as? Int
        #expect(size == 64 * cache.slotBytes, "only the indexed slots stay")
        #expect(paths.prefix(64).allSatisfy(cache.contains) && !paths.dropFirst(64).contains(where: cache.contains))

        // With space again, the rest is decoded and every image holds its own pixels.
        cache.writeFault = nil
        let report = try cache.fill(paths, threads: 2)
        #expect(report.decoded == 86 && report.reused == 64)
        for path in [paths[0], paths[63], paths[64], paths[100], paths[149]] {
            let expected = preprocessing.resized(try ImageDecoder().decode(contentsOf: path).image).pixels
            #expect(cache.pixels(for: path).map(Array.init) == expected, "\(path)")
        }
    }

    @Test("two caches on one folder: a fill while another process fills is refused, naming it; a later one sees its images")
    func oneFillerAtATime() throws {
        let folder = try DatasetFolder()
        let paths = (0..<4).map { folder.path + "/image\($0).png" }
        for (index, path) in paths.enumerated() { try writeImage(path, shade: UInt8(index * 50)) }
        let preprocessing = Preprocessing(imageSize: 8)
        let first = try ImageCache(directory: folder.path + "/cache", preprocessing: preprocessing)
        let second = try ImageCache(directory: folder.path + "/cache", preprocessing: preprocessing)
        try first.fill(Array(paths.prefix(2)))
        // The second cache opened before the first filled: its fill must not overwrite those slots.
        let report = try second.fill(paths)
        #expect(report.reused == 2 && report.decoded == 2)
        for path in paths {
            let expected = preprocessing.resized(try ImageDecoder().decode(contentsOf: path).image).pixels
            #expect(second.pixels(for: path).map(Array.init) == expected)
        }
        #expect(first.pixels(for: paths[0]).map(Array.init) == second.pixels(for: paths[0]).map(Array.init))

        // Another holder of the lock (this process, through its own descriptor) makes a fill refuse.
        let descriptor = open(first.pixelsPath, O_RDWR)
        #expect(flock(descriptor, LOCK_EX | LOCK_NB) == 0)
        defer { close(descriptor) }
        try writeImage(folder.path + "/new.png", shade: 7)
        #expect {
            try first.fill([folder.path + "/new.png"])
        } throws: { error in
            "\(error)".contains("another run is filling this cache (process \(getpid())")
        }
    }

    @Test("names that differ only in Unicode normalisation are cached apart")
    func normalisation() throws {
        let folder = try DatasetFolder()
        let composed = folder.path + "/caf\u{E9}.png", decomposed = folder.path + "/cafe\u{301}.png"
        try writeImage(composed, shade: 10)
        try writeImage(decomposed, shade: 200)
        let preprocessing = Preprocessing(imageSize: 8)
        let cache = try ImageCache(directory: folder.path + "/cache", preprocessing: preprocessing)
        #expect(try cache.fill([composed, decomposed]).decoded == 2)
        for path in [composed, decomposed] {
            let expected = preprocessing.resized(try ImageDecoder().decode(contentsOf: path).image).pixels
            #expect(cache.pixels(for: path).map(Array.init) == expected)
        }
        let reopened = try ImageCache(directory: folder.path + "/cache", preprocessing: preprocessing)
        #expect(try reopened.fill([composed, decomposed]).reused == 2)
        #expect(reopened.pixels(for: decomposed).map(Array.init) == cache.pixels(for: decomposed).map(Array.init))
    }
}
