import Foundation
import GlimpseImage
import Testing

@Suite("Folder walks: sorted, each folder once, loops and dangling links reported")
struct DirectoryWalkTests {
    /// root/
    ///   a.txt, b/ (c.txt, up → .. , again → ../b), d → b (a second link to b), gone → nothing,
    ///   self → self (a link to itself), .hidden, pipe (a FIFO)
    static func tree() throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("glimpse-walk-" + UUID().uuidString).path
        let manager = FileManager.default
        try manager.createDirectory(atPath: root + "/b", withIntermediateDirectories: true)
        for file in ["/a.txt", "/b/c.txt", "/.hidden"] { #expect(manager.createFile(atPath: root + file, contents: Data("x".utf8))) }
        try manager.createSymbolicLink(atPath: root + "/b/up", withDestinationPath: "..")
        try manager.createSymbolicLink(atPath: root + "/b/again", withDestinationPath: "../b")
        try manager.createSymbolicLink(atPath: root + "/d", withDestinationPath: "b")
        try manager.createSymbolicLink(atPath: root + "/gone", withDestinationPath: "nothing")
        try manager.createSymbolicLink(atPath: root + "/self", withDestinationPath: "self")
        #expect(mkfifo(root + "/pipe", 0o644) == 0)
        return root
    }

    @Test("every file once, in order; each loop, second link and dangling link named")
    func walk() throws {
        let root = try Self.tree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        var walk = DirectoryWalk(root: root + "/")
        var entries: [String] = []
        while let entry = walk.next() {
            entries.append(entry.relative)
            #expect(entry.path == root + "/" + entry.relative)
        }
        #expect(entries == ["a.txt", "b/c.txt", "pipe"], "files, the FIFO included; hidden ones left out")
        let problems = Dictionary(uniqueKeysWithValues: walk.problems.map { (String($0.path.dropFirst(root.count + 1)), $0.reason) })
        #expect(Set(problems.keys) == ["b/again", "b/up", "d", "gone", "self"], "\(walk.problems)")
        #expect(problems["b/up"]?.contains("already walked") == true)
        #expect(problems["b/again"]?.contains("already walked") == true)
        #expect(problems["d"]?.contains("already walked") == true)
        #expect(problems["gone"]?.contains("dangling symbolic link") == true)
        #expect(problems["self"]?.contains("loop") == true)
    }

    @Test("a root that does not exist is one problem, and no entries")
    func missingRoot() {
        var walk = DirectoryWalk(root: "/nonexistent/glimpse-walk")
        #expect(walk.next() == nil)
        #expect(walk.problems.count == 1 && walk.problems[0].path == "/nonexistent/glimpse-walk")
    }
}
