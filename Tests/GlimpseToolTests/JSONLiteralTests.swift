import Foundation
import GlimpseSupport
import Testing

@Suite("JSON literals: the one escaping rule, read back exactly by a JSON parser")
struct JSONLiteralTests {
    @Test("quotes, backslashes and every control character are escaped; the rest is written as it is")
    func escaping() {
        #expect(JSONLiteral.string("a \"red\"\\square") == #""a \"red\"\\square""#)
        #expect(JSONLiteral.string("tab\there\nand\r\u{08}\u{0C}") == #""tab\there\nand\r\b\f""#)
        #expect(JSONLiteral.string("\u{00}\u{1F}") == #""\u0000\u001f""#)
        #expect(JSONLiteral.string("café / 猫 🐈") == "\"café / 猫 🐈\"")
    }

    @Test("any string, control characters and all, parses back to itself")
    func roundTrip() throws {
        var text = ""
        for value in 0..<0x80 { text.unicodeScalars.append(Unicode.Scalar(UInt8(value))) }
        text += "é猫🐈\u{2028}"
        let parsed = try JSONSerialization.jsonObject(with: Data(("[" + JSONLiteral.string(text) + "]").utf8)) as? [String]
        #expect(parsed == [text])
    }

    @Test("integer arrays")
    func integers() {
        var bytes: [UInt8] = []
        JSONLiteral.append(integers: [], to: &bytes)
        JSONLiteral.append(integers: [3, -1, 1 << 40], to: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == "[][3,-1,1099511627776]")
    }
}
