import GlimpseImage
import Testing
import GlimpseSupport

@Suite("Decoding JPEG and PNG against the committed fixtures")
struct DecodingTests {
    @Test("the fixture manifest is present and covers every case")
    func manifestIsPresent() {
        #expect(Fixtures.loadFailure == nil, "\(Fixtures.loadFailure ?? "")")
        #expect(Fixtures.cases("decode").count >= 45)
        #expect(Fixtures.cases("error").count >= 10)
    }

    @Test("decodes to the expected pixels: PNG exactly as libpng reads it, JPEG within 1 level of Pillow",
          arguments: Fixtures.cases("decode"))
    func decodesToExpectedPixels(_ fixture: Fixtures.Case) throws {
        let decoded = try ImageDecoder().decode(contentsOf: fixture.path)
        let expected = Fixtures.bytes(try #require(fixture.expected))
        #expect(decoded.image.width == fixture.width)
        #expect(decoded.image.height == fixture.height)
        try #require(decoded.image.pixels.count == expected.count,
                     "\(fixture.name): \(decoded.image.pixels.count) bytes, expected \(expected.count)")
        let difference = maxDifference(decoded.image.pixels, expected)
        #expect(difference <= fixture.tolerance ?? 0,
                "\(fixture.name): max difference \(difference) levels, allowed \(fixture.tolerance ?? 0)")
    }

    @Test("reports the header facts: format, size after orientation, channels, bit depth, orientation",
          arguments: Fixtures.cases("decode"))
    func reportsHeaderFacts(_ fixture: Fixtures.Case) throws {
        let info = try ImageDecoder().info(contentsOf: fixture.path)
        let expected = try #require(fixture.info)
        #expect(info.format.rawValue == expected.format)
        #expect(info.width == fixture.width && info.height == fixture.height)
        #expect(info.channels == expected.channels)
        #expect(info.bitDepth == expected.bitDepth)
        #expect(info.isProgressive == expected.progressive)
        #expect(info.orientation.rawValue == expected.orientation)
    }

    @Test("the format comes from the bytes, not the file name")
    func formatFromBytes() throws {
        let png = Fixtures.bytes("png-rgb8.png")
        let decoded = try ImageDecoder().decode(png, path: "photo.jpg")
        #expect(decoded.info.format == .png)
    }

    @Test("transparent pixels are composited over the configured background")
    func compositesOverConfiguredBackground() throws {
        var options = ImageDecodingOptions()
        options.background = (0, 0, 0)
        let onBlack = try ImageDecoder(options: options).decode(contentsOf: Fixtures.path("png-rgba8.png")).image
        let onWhite = try ImageDecoder().decode(contentsOf: Fixtures.path("png-rgba8.png")).image
        // Pixel (0, 0) of that fixture has alpha 0: pure background.
        #expect(onBlack[0, 0] == (0, 0, 0))
        #expect(onWhite[0, 0] == (255, 255, 255))
    }

    @Test("orientation can be left unapplied")
    func orientationCanBeIgnored() throws {
        var options = ImageDecodingOptions()
        options.appliesOrientation = false
        let decoded = try ImageDecoder(options: options).decode(contentsOf: Fixtures.path("jpeg-exif-orientation-6.jpg"))
        #expect(decoded.image.width == 37 && decoded.image.height == 23)
        #expect(decoded.info.orientation == .right)
    }
}

@Suite("Unsupported and damaged files give a typed error naming the file")
struct DecodingErrorTests {
    @Test("each bad fixture gives its error", arguments: Fixtures.cases("error"))
    func givesTypedError(_ fixture: Fixtures.Case) {
        do {
            let decoded = try ImageDecoder().decode(contentsOf: fixture.path)
            Issue.record("\(fixture.name) decoded to \(decoded.image.width)x\(decoded.image.height); expected \(fixture.error ?? "")")
        } catch {
            #expect(error.path == fixture.path)
            #expect(error.description.hasPrefix(fixture.path + ": "))
            switch (error.reason, fixture.error) {
            case (.unsupportedFormat(let detected), "unsupportedFormat"):
                #expect(detected == fixture.detected, "\(error)")
            case (.emptyFile, "emptyFile"), (.truncated, "truncated"), (.corrupt, "corrupt"), (.tooLarge, "tooLarge"):
                break
            default:
                Issue.record("\(fixture.name): got \(error), expected \(fixture.error ?? "")")
            }
        }
    }

    @Test("a missing file and a directory are unreadable, with the system's reason")
    func unreadableFiles() {
        #expect(throws: ImageDecodingError(path: "/no/such/file.jpg", reason: .unreadable("No such file or directory"))) {
            try ImageDecoder().decode(contentsOf: "/no/such/file.jpg")
        }
        #expect(throws: ImageDecodingError(path: Fixtures.directory, reason: .unreadable("is a directory"))) {
            try ImageDecoder().decode(contentsOf: Fixtures.directory)
        }
    }

    @Test("the pixel cap is configurable and checked from the header")
    func pixelCapIsConfigurable() {
        var options = ImageDecodingOptions()
        options.maxPixels = 37 * 23 - 1
        let path = Fixtures.path("jpeg-baseline-420.jpg")
        #expect(throws: ImageDecodingError(path: path, reason: .tooLarge(width: 37, height: 23, limit: 37 * 23 - 1))) {
            try ImageDecoder(options: options).decode(contentsOf: path)
        }
        options.maxPixels = 37 * 23
        #expect(throws: Never.self) { try ImageDecoder(options: options).decode(contentsOf: path) }
    }

    @Test("the byte cap refuses a file before reading it")
    func byteCap() {
        var options = ImageDecodingOptions()
        options.maxFileBytes = 100
        let path = Fixtures.path("jpeg-baseline-420.jpg")
        #expect {
            try ImageDecoder(options: options).decode(contentsOf: path)
        } throws: { error in
            guard let error = error as? ImageDecodingError, case .fileTooLarge(_, 100) = error.reason else { return false }
            return true
        }
    }

    @Test("messages read well")
    func messages() {
        let error = ImageDecodingError(path: "a/b.gif", reason: .unsupportedFormat(detected: "GIF image"))
        #expect(error.description == "a/b.gif: unsupported format: GIF image (Glimpse reads JPEG and PNG)")
        let large = ImageDecodingError(path: "x.png", reason: .tooLarge(width: 30000, height: 30000, limit: 100_000_000))
        #expect(large.description.contains("image too large"))
    }
}
