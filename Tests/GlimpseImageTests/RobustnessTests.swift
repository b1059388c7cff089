import GlimpseImage
import Testing

/// Damaged input must give an error or a valid image: never a crash, an abort, an
/// exit or a hang. (A crash here takes the whole test process down, which fails CI.)
@Suite("Robustness against truncated and corrupted files")
struct RobustnessTests {
    static let files = ["robustness-small.jpg", "robustness-small.png", "jpeg-baseline-420.jpg", "png-palette4-trns.png"]

    func outcome(_ bytes: [UInt8]) -> Bool {
        do {
            let decoded = try ImageDecoder().decode(bytes, path: "fuzz")
            // A valid image: consistent geometry.
            #expect(decoded.image.pixels.count == decoded.image.width * decoded.image.height * 3)
            return true
        } catch {
            #expect(error.path == "fuzz")
            return false
        }
    }

    @Test("every prefix decodes to an error or a valid image", arguments: files)
    func everyPrefix(_ name: String) {
        let bytes = Fixtures.bytes(name)
        #expect(bytes.count > 100)
        var errors = 0
        for length in 0..<bytes.count where !outcome(Array(bytes[0..<length])) {
            errors += 1
        }
        // Almost every proper prefix lacks image data; the whole file decodes.
        #expect(errors >= bytes.count / 2, "only \(errors) of \(bytes.count) prefixes failed")
        #expect(outcome(bytes))
    }

    @Test("seeded random corruptions decode to an error or a valid image", arguments: files)
    func randomCorruptions(_ name: String) {
        let original = Fixtures.bytes(name)
        var generator = SplitMix64(seed: 0x9E3779B97F4A7C15 ^ UInt64(original.count))
        for _ in 0..<300 {
            var bytes = original
            let flips = 1 + Int(generator.next() % 8)
            for _ in 0..<flips {
                let index = Int(generator.next() % UInt64(bytes.count))
                switch generator.next() % 3 {
                case 0: bytes[index] = UInt8(truncatingIfNeeded: generator.next())
                case 1: bytes[index] ^= UInt8(1 << (generator.next() % 8))
                default: bytes[index] = 0xFF  // marker-like bytes stress the JPEG parser
                }
            }
            _ = outcome(bytes)
        }
    }
}

/// A tiny deterministic generator for the corruption test.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}

/// A JPEG whose coded data is complete but whose final EOI marker is missing decodes (as in
/// every other reader); one that lacks coded data never decodes to other pixels.
@Suite("JPEG files without their EOI marker")
struct MissingEOITests {
    @Test("a single-scan JPEG without EOI decodes to the same pixels as with it",
          arguments: ["jpeg-baseline-420.jpg", "jpeg-baseline-422.jpg", "jpeg-baseline-444.jpg"])
    func accepted(_ name: String) throws {
        let bytes = Fixtures.bytes(name)
        #expect(Array(bytes.suffix(2)) == [0xFF, 0xD9])
        let full = try ImageDecoder().decode(bytes, path: name).image
        let withoutEOI = try ImageDecoder().decode(Array(bytes.dropLast(2)), path: name).image
        #expect(withoutEOI == full)
        // Every shorter prefix is an error or (when only padding bits were cut) the same pixels.
        for length in max(0, bytes.count - 300)..<(bytes.count - 2) {
            if let image = try? ImageDecoder().decode(Array(bytes.prefix(length)), path: name).image {
                #expect(image == full, "a \(length)-byte prefix of \(name) decoded to other pixels")
            }
        }
        // Cut inside the coded data: truncated, by name.
        #expect(throws: ImageDecodingError.self) { try ImageDecoder().decode(Array(bytes.dropLast(40)), path: name) }
        do {
            _ = try ImageDecoder().decode(Array(bytes.dropLast(40)), path: name)
        } catch {
            #expect(error.reason == .truncated(format: .jpeg, message: "Premature end of JPEG file"), "\(error)")
        }
    }

    @Test("a progressive JPEG without EOI is refused as truncated: libjpeg cannot tell it from one cut between scans",
          arguments: ["jpeg-3x41-progressive.jpg", "robustness-small.jpg"])
    func progressiveRefused(_ name: String) {
        let bytes = Fixtures.bytes(name)
        #expect(throws: ImageDecodingError.self) { try ImageDecoder().decode(Array(bytes.dropLast(2)), path: name) }
    }
}
