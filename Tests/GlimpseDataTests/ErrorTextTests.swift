import Foundation
import GlimpseData
import Testing

@Suite("Error text: decoder and Foundation errors in words, not dumps")
struct ErrorTextTests {
    struct Options: Decodable { var epochs: Int; var names: [String] }

    @Test("a missing field, a wrong type and broken JSON name the field and its place")
    func decodingErrors() {
        func text(_ json: String) -> String {
            do { _ = try JSONDecoder().decode(Options.self, from: Data(json.utf8)); return "" } catch { return ErrorText.describe(error) }
        }
        #expect(text(#"{"names": []}"#) == #"missing field "epochs""#)
        #expect(text(#"{"epochs": "x", "names": []}"#) == "a value of the wrong type at epochs (expected Int)")
        #expect(text(#"{"epochs": 1, "names": [1]}"#) == "a value of the wrong type at names[0] (expected String)")
        let broken = text(#"{"epochs": "#)
        #expect(broken.hasPrefix("invalid content: "), "\(broken)")
        for sample in [text(#"{"names": []}"#), broken] {
            #expect(!sample.contains("CodingKeys") && !sample.contains("Context("), "\(sample)")
        }
    }

    @Test("a Foundation file error is its localized description")
    func fileErrors() {
        do {
            _ = try Data(contentsOf: URL(fileURLWithPath: "/nonexistent/glimpse"))
            Issue.record("read a file that does not exist")
        } catch {
            let text = ErrorText.describe(error)
            #expect(!text.contains("Domain=") && !text.contains("CocoaError"), "\(text)")
        }
    }
}
