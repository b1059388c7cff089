import Foundation
import GlimpseImage
import Testing
import GlimpseSupport

@Suite("File names: any bytes the file system allows")
struct FileNameTests {
    @Test("valid UTF-8 names are held as they are")
    func validNames() {
        for name in ["cat.jpg", "café.jpg", "cafe\u{301}.jpg", "日本.png", "tab\there", "back\\slash"] {
            let bytes = Array(name.utf8)
            #expect(FileName.string(fromBytes: bytes) == name)
            #expect(FileName.string(fromBytes: bytes).utf8.elementsEqual(bytes))
            #expect(FileName.isUTF8(name) && FileName.bytes(name) == bytes && FileName.shown(name) == name)
        }
    }

    @Test("any bytes but NUL and / come back exactly; invalid sequences show as \\xNN")
    func arbitraryBytes() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let length = Int.random(in: 1...24, using: &generator)
            let bytes = (0..<length).map { _ in UInt8.random(in: 1...255, using: &generator) }.filter { $0 != 0x2F }
            let held = FileName.string(fromBytes: bytes)
            #expect(FileName.bytes(held) == bytes, "\(bytes)")
            #expect(FileName.isUTF8(held) == (String(validating: bytes, as: UTF8.self) != nil))
        }
        // Latin-1 "café", an overlong "/", a surrogate, a cut sequence, a code point above U+10FFFF.
        let cases: [([UInt8], String)] = [
            ([0x63, 0x61, 0x66, 0xE9], "caf\\xE9"),
            ([0xC0, 0xAF, 0x61], "\\xC0\\xAFa"),
            ([0xED, 0xA0, 0x80], "\\xED\\xA0\\x80"),
            ([0x61, 0xE2, 0x82], "a\\xE2\\x82"),
            ([0xF4, 0x90, 0x80, 0x80], "\\xF4\\x90\\x80\\x80"),
        ]
        for (bytes, shown) in cases {
            let held = FileName.string(fromBytes: bytes)
            #expect(!FileName.isUTF8(held) && FileName.bytes(held) == bytes && FileName.shown(held) == shown)
        }
    }

    @Test("names that differ only in Unicode normalisation have different keys")
    func normalisation() {
        let composed = "caf\u{E9}.jpg", decomposed = "cafe\u{301}.jpg"
        #expect(composed == decomposed, "Swift's String equality merges them")
        #expect(FileName.key(composed) != FileName.key(decomposed))
        #expect(Set([FileName.key(composed), FileName.key(decomposed)]).count == 2)
    }

    @Test("a file with a non-UTF-8 name is found by the walk, read and written by its exact bytes")
    func onDisk() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("glimpse-names-" + UUID().uuidString).path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let latin1 = FileName.string(fromBytes: Array("caf".utf8) + [0xE9] + Array(".bin".utf8))
        try FileBytes.makeDirectories(root + "/" + latin1 + "-folder")
        try FileBytes.writeAtomically(Array("payload".utf8), to: root + "/" + latin1)
        for name in ["caf\u{E9}.bin", "cafe\u{301}.bin"] {
            try FileBytes.writeAtomically(Array(name.utf8), to: root + "/" + name)
        }
        var walk = DirectoryWalk(root: root)
        var found: [String] = []
        while let entry = walk.next() { found.append(entry.relative) }
        #expect(walk.problems.isEmpty, "\(walk.problems)")
        #expect(found.map(FileName.bytes) == [
            Array("caf".utf8) + [0x65, 0xCC, 0x81] + Array(".bin".utf8),
            Array("caf".utf8) + [0xC3, 0xA9] + Array(".bin".utf8),
            Array("caf".utf8) + [0xE9] + Array(".bin".utf8),
        ], "in byte order, each once")
        #expect(try FileBytes.read(root + "/" + latin1, limit: 100) == Array("payload".utf8))
        #expect(try FileBytes.read(root + "/cafe\u{301}.bin", limit: 100) == Array("cafe\u{301}.bin".utf8))
        // The system sees the exact bytes.
        let rawBytes: [UInt8] = Array(root.utf8) + Array("/caf".utf8) + [0xE9] + Array(".bin".utf8) + [0]
        let raw: [CChar] = rawBytes.map { CChar(bitPattern: $0) }
        #expect(raw.withUnsafeBufferPointer { access($0.baseAddress!, F_OK) } == 0)
    }
}
