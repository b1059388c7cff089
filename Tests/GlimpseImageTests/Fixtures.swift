import Foundation
import GlimpseImage

/// The committed fixtures written by Scripts/make_image_fixtures.py, described by
/// Fixtures/manifest.json.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path

    struct Manifest: Decodable {
        var cases: [Case]
    }

    struct Info: Decodable, Sendable {
        var format: String
        var channels: Int
        var bitDepth: Int
        var progressive: Bool
        var orientation: Int
    }

    struct Case: Decodable, Sendable, CustomStringConvertible {
        var name: String
        var kind: String
        var expected: String?
        var width: Int?
        var height: Int?
        var tolerance: Int?
        var info: Info?
        var error: String?
        var detected: String?
        var outputWidth: Int?
        var outputHeight: Int?
        var shortSide: Int?
        var note: String

        var description: String { "\(name) (\(note))" }
        var path: String { Fixtures.path(name) }
    }

    static let manifest: Manifest = {
        let url = URL(fileURLWithPath: directory).appendingPathComponent("manifest.json")
        do {
            return try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: url))
        } catch {
            // A missing manifest is a broken checkout; the tests below then have no cases,
            // and `manifestIsPresent` fails with this message.
            loadFailure = "cannot read \(url.path): \(error)"
            return Manifest(cases: [])
        }
    }()
    nonisolated(unsafe) static var loadFailure: String?

    static func cases(_ kind: String) -> [Case] { manifest.cases.filter { $0.kind == kind } }

    static func path(_ name: String) -> String { directory + "/" + name }

    static func bytes(_ name: String) -> [UInt8] {
        (try? [UInt8](Data(contentsOf: URL(fileURLWithPath: path(name))))) ?? []
    }

    static func floats(_ name: String) -> [Float] {
        let raw = bytes(name)
        return raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}

/// The largest per-channel difference between two byte buffers of equal length.
func maxDifference(_ left: [UInt8], _ right: [UInt8]) -> Int {
    zip(left, right).reduce(0) { max($0, abs(Int($1.0) - Int($1.1))) }
}
