import Foundation
import Testing

/// The maps of the targets (the README's short one, Docs/architecture.md's full one) name every target
/// of Package.swift, and nothing else.
@Suite("README map of the targets")
struct ReadmeMapTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardizedFileURL

    @Test("every non-test target is in the map, and every target in the map exists", arguments: ["README.md", "Docs/architecture.md"])
    func mapMatchesPackage(document: String) throws {
        let package = try String(contentsOf: Self.root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let declared = Set(package.matches(of: /\.(?:target|systemLibrary|executableTarget)\(\s*name: "(\w+)"/).map { String($0.1) })
        let text = try String(contentsOf: Self.root.appendingPathComponent(document), encoding: .utf8)
        let mapStart = try #require(text.range(of: "## Map of the targets"), "\(document) has no \"## Map of the targets\"")
        let map = text[mapStart.upperBound...].prefix { _ in true }.split(separator: "\n## ").first ?? ""
        var listed = Set<String>()
        for line in map.split(separator: "\n") where line.hasPrefix("| `") {
            let firstCell = line.split(separator: "|").first ?? ""
            for match in firstCell.matches(of: /`(\w+)`/) { listed.insert(String(match.1)) }
        }
        #expect(declared.subtracting(listed).isEmpty, "missing from the map in \(document): \(declared.subtracting(listed).sorted())")
        #expect(listed.subtracting(declared).isEmpty, "in the map in \(document) but not in Package.swift: \(listed.subtracting(declared).sorted())")
    }
}
