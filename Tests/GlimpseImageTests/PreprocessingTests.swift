import GlimpseImage
import Testing

@Suite("Resizing and normalising to the model's input")
struct PreprocessingTests {
    @Test("resizing matches Pillow's antialiased bilinear resize exactly", arguments: Fixtures.cases("resize"))
    func resizeMatchesPillow(_ fixture: Fixtures.Case) throws {
        let source = RGBImage(width: try #require(fixture.width), height: try #require(fixture.height),
                              pixels: Fixtures.bytes(fixture.name))
        let width = try #require(fixture.outputWidth), height = try #require(fixture.outputHeight)
        let resized = Resampler.resize(source, width: width, height: height)
        let expected = Fixtures.bytes(try #require(fixture.expected))
        #expect(resized.width == width && resized.height == height)
        let difference = maxDifference(resized.pixels, expected)
        #expect(difference == 0, "\(fixture.description): max difference \(difference) levels")
    }

    @Test("with a short side, the input is torchvision's Resize then CenterCrop, pixel for pixel",
          arguments: Fixtures.cases("resize-crop"))
    func resizeThenCenterCrop(_ fixture: Fixtures.Case) throws {
        let source = RGBImage(width: try #require(fixture.width), height: try #require(fixture.height),
                              pixels: Fixtures.bytes(fixture.name))
        let preprocessing = Preprocessing(imageSize: try #require(fixture.outputWidth), resizeShortSide: fixture.shortSide)
        let cropped = preprocessing.resized(source)
        #expect(cropped.width == fixture.outputWidth && cropped.height == fixture.outputHeight)
        let difference = maxDifference(cropped.pixels, Fixtures.bytes(try #require(fixture.expected)))
        #expect(difference == 0, "\(fixture.description): max difference \(difference) levels")
    }

    @Test("portrait images crop the same way, rotated; a square one only shrinks")
    func cropGeometry() {
        let landscape = RGBImage(width: 60, height: 30, pixels: (0..<(60 * 30 * 3)).map { UInt8($0 % 251) })
        let portrait = RGBImage(width: 30, height: 60, pixels: (0..<(60 * 30 * 3)).map { index in
            let (y, x, channel) = (index / 90, (index / 3) % 30, index % 3) // portrait pixel (x, y) = landscape (y, x)
            return UInt8((3 * (x * 60 + y) + channel) % 251)
        })
        let preprocessing = Preprocessing(imageSize: 16, resizeShortSide: 20)
        let (fromLandscape, fromPortrait) = (preprocessing.resized(landscape), preprocessing.resized(portrait))
        // The transpose of the landscape crop, up to the 8-bit rounding between the two
        // resize passes, which run in the other order on the transposed image.
        var largest = 0
        for y in 0..<16 {
            for x in 0..<16 {
                let (a, b) = (fromLandscape[x, y], fromPortrait[y, x])
                largest = max(largest, abs(Int(a.red) - Int(b.red)), abs(Int(a.green) - Int(b.green)), abs(Int(a.blue) - Int(b.blue)))
            }
        }
        #expect(largest <= 1, "portrait and landscape crops differ by \(largest) levels")
        let square = RGBImage(width: 40, height: 40, fill: (red: 9, green: 8, blue: 7))
        #expect(preprocessing.resized(square) == RGBImage(width: 16, height: 16, fill: (red: 9, green: 8, blue: 7)))
    }

    @Test("shrinking averages instead of aliasing: fine stripes become flat gray")
    func shrinkingIsAntialiased() {
        // Alternating black and white columns, shrunk 8x: a point sampler would give
        // all-black or all-white columns; an antialiased filter gives mid-gray.
        var pixels = [UInt8](repeating: 0, count: 256 * 8 * 3)
        for y in 0..<8 { for x in stride(from: 1, to: 256, by: 2) {
            for channel in 0..<3 { pixels[3 * (y * 256 + x) + channel] = 255 }
        } }
        let resized = Resampler.resize(RGBImage(width: 256, height: 8, pixels: pixels), width: 32, height: 8)
        #expect(resized.pixels.allSatisfy { (120...135).contains($0) }, "\(resized.pixels.prefix(12))")
    }

    @Test("normalising matches torchvision's ToTensor + Normalize bit for bit, planar")
    func normalizeMatchesTorchvision() throws {
        let fixture = try #require(Fixtures.cases("normalize").first)
        let image = RGBImage(width: 16, height: 16, pixels: Fixtures.bytes(fixture.name))
        let expected = Fixtures.floats(try #require(fixture.expected))
        let preprocessing = Preprocessing(imageSize: 16)
        var output = [Float](repeating: .nan, count: 3 * 16 * 16)
        output.withUnsafeMutableBufferPointer { preprocessing.normalize(image, into: $0) }
        #expect(output == expected)
    }

    @Test("the whole pipeline is resize then normalise, one code path")
    func pipelineComposes() throws {
        let decoded = try ImageDecoder().decode(contentsOf: Fixtures.path("jpeg-baseline-444.jpg")).image
        let preprocessing = Preprocessing(imageSize: 8)
        let input = preprocessing(decoded)
        var manual = [Float](repeating: 0, count: 3 * 64)
        manual.withUnsafeMutableBufferPointer { preprocessing.normalize(preprocessing.resized(decoded), into: $0) }
        #expect(input == manual)
        #expect(input.count == 3 * 8 * 8)
        // The default is the model's: 128 x 128 with ImageNet statistics.
        #expect(Preprocessing().imageSize == 128)
        #expect(Preprocessing().mean == [0.485, 0.456, 0.406])
    }
}

@Suite("Orientation")
struct OrientationTests {
    let image = RGBImage(width: 3, height: 2, pixels: (0..<18).map { UInt8($0) })

    @Test("turning right then left is the identity, and mirrors undo themselves")
    func inverses() {
        #expect(image.applying(.right).applying(.left) == image)
        #expect(image.applying(.down).applying(.down) == image)
        #expect(image.applying(.upMirrored).applying(.upMirrored) == image)
        #expect(image.applying(.leftMirrored).applying(.leftMirrored) == image)
        #expect(image.applying(.rightMirrored).applying(.rightMirrored) == image)
    }

    @Test("rotating clockwise moves the top-left pixel to the top-right")
    func clockwise() {
        let turned = image.applying(.right)
        #expect(turned.width == 2 && turned.height == 3)
        #expect(turned[1, 0] == image[0, 0])
        #expect(turned[0, 0] == image[0, 1])
    }
}

@Suite("Recognising formats from their bytes")
struct FormatSniffingTests {
    @Test("signatures", arguments: [
        ([0xFF, 0xD8, 0xFF, 0xE0], SniffedFormat.supported(.jpeg)),
        ([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0], .supported(.png)),
        ([0x89, 0x50, 0x4E, 0x47], .supported(.png)),  // a truncated PNG signature
        (Array("GIF89a....".utf8), .unsupportedImage("GIF image")),
        (Array("RIFF\u{0}\u{0}\u{0}\u{0}WEBPVP8 ".utf8), .unsupportedImage("WebP image")),
        (Array("%PDF-1.7\n".utf8), .unsupported("PDF document")),
        (Array("hello, world\n".utf8), .unsupported("text file")),
        ([], .empty),
        ([0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07], .unknown),
    ] as [([UInt8], SniffedFormat)])
    func signatures(_ bytes: [UInt8], _ expected: SniffedFormat) {
        #expect(SniffedFormat.sniff(bytes) == expected)
    }
}
