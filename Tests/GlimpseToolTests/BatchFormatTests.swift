@testable import GlimpseTool
import Testing

@Suite("batch output and shards")
struct BatchFormatTests {
    @Test("the shard hash is 64-bit FNV-1a (published test vectors), so splits agree across machines")
    func fnv1a() {
        #expect(Shard.hash("") == 0xcbf2_9ce4_8422_2325)
        #expect(Shard.hash("a") == 0xaf63_dc4c_8601_ec8c)
        #expect(Shard.hash("foobar") == 0x8594_4171_f739_67e8)
    }

    @Test("--shard accepts i/n with 0 <= i < n only", arguments: ["0/1", "2/3", "7/8"])
    func validShards(_ text: String) {
        #expect(Shard(text) != nil)
    }

    @Test("malformed shards are refused", arguments: ["3/3", "-1/2", "1", "a/b", "1/0", "1/2/3", ""])
    func invalidShards(_ text: String) {
        #expect(Shard(text) == nil)
    }

    @Test("CSV rows with commas, quotes and line breaks survive writing and reading back; a cut row is not counted")
    func csvRoundTrip() {
        let records = [
            BatchRecord(path: "a, b/\"c\".jpg", caption: "a dog, running", logProbability: -3.25, error: nil),
            BatchRecord(path: "odd\nname.png", caption: nil, logProbability: nil, error: "truncated JPEG file: \"x\""),
        ]
        let text = BatchOutput.csvHeader + "\r\n" + records.map(BatchOutput.csvLine).joined()
        let bytes = Array(text.utf8)
        let (parsed, complete, foreign) = BatchOutput.parseCSV(bytes)
        #expect(parsed == records)
        #expect(complete == bytes.count && foreign == nil)
        // Cut inside the quoted line break of the last row: only the first row is complete.
        let cut = Array(bytes.prefix(bytes.count - 40))
        let (partial, partialLength, _) = BatchOutput.parseCSV(cut)
        #expect(partial == Array(records.prefix(1)))
        #expect(partialLength == (BatchOutput.csvHeader + "\r\n" + BatchOutput.csvLine(records[0])).utf8.count)
    }

    @Test("JSON Lines: a torn last line is left out of the complete part")
    func jsonLinesTorn() {
        let record = BatchRecord(path: "x.jpg", caption: "a cat", logProbability: -1.5, error: nil)
        let line = BatchOutput.jsonLine(record)
        let bytes = Array((line + line.prefix(8)).utf8)
        let (parsed, complete, foreign) = BatchOutput.parseJSONLines(bytes)
        #expect(parsed == [record] && complete == line.utf8.count && foreign == nil)
    }
}
