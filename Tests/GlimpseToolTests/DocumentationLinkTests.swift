import Foundation
import Testing

/// The README and Docs/ link to each other and to files of the repository by relative paths; moving a
/// section or renaming a file must not leave a link pointing nowhere.
@Suite("Documentation links")
struct DocumentationLinkTests {
    static let root = ReadmeMapTests.root

    static func documents() throws -> [URL] {
        let docs = Self.root.appendingPathComponent("Docs")
        let names = try FileManager.default.contentsOfDirectory(atPath: docs.path).filter { $0.hasSuffix(".md") }.sorted()
        return [Self.root.appendingPathComponent("README.md")] + names.map { docs.appendingPathComponent($0) }
    }

    /// The text outside fenced code blocks, where a `](x)` is code, not a link.
    static func prose(_ text: String) -> [Substring] {
        var inFence = false
        return text.split(separator: "\n", omittingEmptySubsequences: false).filter { line in
            if line.hasPrefix("```") { inFence.toggle(); return false }
            return !inFence
        }
    }

    /// GitHub's anchor for a heading: lowercased, punctuation dropped, spaces as hyphens.
    static func anchor(_ heading: Substring) -> String {
        let title = heading.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces).lowercased()
        return String(title.filter { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == " " }
            .map { $0 == " " ? "-" : $0 })
    }

    @Test("every relative link in README.md and Docs/*.md names a file that exists, and a heading in it")
    func relativeLinksResolve() throws {
        var broken: [String] = []
        var checked = 0
        for document in try Self.documents() {
            let text = try String(contentsOf: document, encoding: .utf8)
            for line in Self.prose(text) {
                for match in line.matches(of: /\]\(([^)\s]+)\)/) {
                    let target = String(match.1)
                    if target.contains("://") || target.hasPrefix("mailto:") { continue }
                    checked += 1
                    let parts = target.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
                    let file = parts[0].isEmpty ? document
                        : document.deletingLastPathComponent().appendingPathComponent(String(parts[0])).standardizedFileURL
                    let name = "\(document.lastPathComponent): \(target)"
                    guard FileManager.default.fileExists(atPath: file.path) else { broken.append("\(name) (no such file)"); continue }
                    guard parts.count == 2, file.pathExtension == "md" else { continue }
                    let headings = Self.prose(try String(contentsOf: file, encoding: .utf8)).filter { $0.hasPrefix("#") }.map(Self.anchor)
                    if !headings.contains(String(parts[1])) { broken.append("\(name) (no such heading)") }
                }
            }
        }
        #expect(checked > 10, "only \(checked) links found: is the pattern still right?")
        #expect(broken.isEmpty, "broken links: \(broken)")
    }
}
