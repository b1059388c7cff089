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

    @Test("--shard auto takes the scheduler's share: a Slurm array, srun tasks, Open MPI or MPICH ranks, in that order")
    func sharesFromTheEnvironment() throws {
        func found(_ environment: [String: String]) throws -> String? {
            try Shard.fromEnvironment(environment).map { "\($0.shard.index)/\($0.shard.count) \($0.source)" }
        }
        #expect(try found([:]) == nil)
        #expect(try found(["HOME": "/root"]) == nil)
        // Array ids need not start at 0 (--array=1-8).
        #expect(try found(["SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "8",
                           "SLURM_PROCID": "0", "SLURM_NTASKS": "1"])
                == "2/8 SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT")
        #expect(try found(["SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "4"]) == "0/4 SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT")
        #expect(try found(["SLURM_PROCID": "5", "SLURM_NTASKS": "6", "OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2"])
                == "5/6 SLURM_PROCID of SLURM_NTASKS")
        #expect(try found(["OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2"]) == "1/2 OMPI_COMM_WORLD_RANK of OMPI_COMM_WORLD_SIZE")
        #expect(try found(["PMI_RANK": "0", "PMI_SIZE": "3"]) == "0/3 PMI_RANK of PMI_SIZE")
        // Set but no share: an error naming the variables, never the whole folder on every task.
        for bad in [["SLURM_ARRAY_TASK_ID": "9", "SLURM_ARRAY_TASK_COUNT": "8"], ["SLURM_PROCID": "x", "SLURM_NTASKS": "2"],
                    ["OMPI_COMM_WORLD_RANK": "1"], ["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "0"]] {
            #expect(throws: ShardProblem.self, "\(bad)") { try Shard.fromEnvironment(bad) }
        }
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
        let parsed = BatchOutput.parseCSV(bytes, headerExpected: true)
        #expect(parsed.records == records)
        #expect(parsed.completeLength == bytes.count && parsed.problem == nil)
        // Cut inside the quoted line break of the last row: only the first row is complete.
        let cut = Array(bytes.prefix(bytes.count - 40))
        let partial = BatchOutput.parseCSV(cut, headerExpected: true)
        #expect(partial.records == Array(records.prefix(1)) && partial.problem == nil)
        #expect(partial.completeLength == (BatchOutput.csvHeader + "\r\n" + BatchOutput.csvLine(records[0])).utf8.count)
    }

    @Test("JSON Lines: a torn last line is left out of the complete part")
    func jsonLinesTorn() {
        let record = BatchRecord(path: "x.jpg", caption: "a cat", logProbability: -1.5, error: nil)
        let line = BatchOutput.jsonLine(record)
        let bytes = Array((line + line.prefix(8)).utf8)
        let parsed = BatchOutput.parseJSONLines(bytes)
        #expect(parsed.records == [record] && parsed.completeLength == line.utf8.count && parsed.problem == nil)
    }

    @Test("JSON Lines: a record's familiarity (a model with a feature summary) is written and read back, with or without a cut caption")
    func jsonLinesFamiliarity() {
        var flagged = BatchRecord(path: "cat.jpg", caption: "a large black star", logProbability: -4.5, error: nil)
        flagged.familiarity = (7.6, true)
        var cut = BatchRecord(path: "s.png", caption: "a small", logProbability: -0.5, error: nil, truncated: true)
        cut.familiarity = (0.8, false)
        let plain = BatchRecord(path: "old.jpg", caption: "a cat", logProbability: -1, error: nil)
        let lines = [flagged, cut, plain].map(BatchOutput.jsonLine)
        #expect(lines[0] == #"{"path":"cat.jpg","caption":"a large black star","logprob":-4.5,"unfamiliar":true,"familiarity_distance":7.6}"# + "\n")
        let parsed = BatchOutput.parseJSONLines(Array(lines.joined().utf8))
        #expect(parsed.problem == nil && parsed.records == [flagged, cut, plain])
        #expect(parsed.records.map { $0.familiarity?.unfamiliar } == [true, false, nil])
        // Half of the pair, or a flag that is not a boolean, is not a record.
        for bad in [#"{"path":"a.jpg","caption":"a","logprob":-1,"unfamiliar":true}"#,
                    #"{"path":"a.jpg","caption":"a","logprob":-1,"unfamiliar":"yes","familiarity_distance":2}"#] {
            #expect(BatchOutput.parseJSONLines(Array((bad + "\n").utf8)).problem != nil, "\(bad)")
        }
    }

    @Test("a file is this format's output only if every line is one of its records", arguments: [
        // JSON Lines
        ("jsonl", "[{\"image_id\": \"a.jpg\", \"caption\": \"a cat\"}]", "has no line end"),
        ("jsonl", "{\"path\":\"a.jpg\",\"caption\":\"a cat\",\"logprob\":-1}\nnotes\n", "line 2 is not"),
        ("jsonl", "{\"path\":\"a.jpg\",\"caption\":\"a cat\",\"logprob\":-1,\"score\":3}\n", "line 1 is not"),
        ("jsonl", "{\"path\":\"a.jpg\",\"caption\":\"a cat\"}\n", "line 1 is not"),
        ("jsonl", "hello", "has no line end"),
        // CSV, shard 0 (with the header)
        ("csv0", "path,caption,logprob,error\r\na.jpg,a cat,-1,\r\nb,c,d,e\r\n", "row 3 is not"),
        ("csv0", "name,caption,score,note\r\n", "first row is not the header"),
        ("csv0", "a.jpg,a cat,-1,\r\n", "first row is not the header"),
        ("csv0", "just some text", "has no line end"),
        // CSV, a later shard (no header)
        ("csv1", "path,caption,logprob,error\r\n", "row 1 is a header"),
        ("csv1", "w,x,y,z\r\n", "row 1 is not"),
        ("csv1", "a.jpg,a cat,-1\r\n", "row 1 is not"),
        ("csv1", "a.jpg,a cat,-1,", "has no line end"),
    ])
    func foreignFiles(kind: String, text: String, problem: String) {
        let bytes = Array(text.utf8)
        let parsed = kind == "jsonl" ? BatchOutput.parseJSONLines(bytes) : BatchOutput.parseCSV(bytes, headerExpected: kind == "csv0")
        #expect(parsed.problem?.contains(problem) == true, "\(parsed.problem ?? "accepted")")
    }

    @Test("CSV fields are quoted by their bytes: a CR LF, or a comma or quote under a combining mark, reads back")
    func csvGraphemes() {
        let records = [
            BatchRecord(path: "a\r\nb.jpg", caption: "x", logProbability: -1, error: nil),
            BatchRecord(path: "x,\u{301}.jpg", caption: "say \"\u{301}hi", logProbability: -2, error: nil),
        ]
        let bytes = Array((BatchOutput.csvHeader + "\r\n" + records.map(BatchOutput.csvLine).joined()).utf8)
        let parsed = BatchOutput.parseCSV(bytes, headerExpected: true)
        #expect(parsed.problem == nil && parsed.records == records && parsed.completeLength == bytes.count)
    }

    @Test("a non-finite log-probability (a model with bad weights) reads back in both formats")
    func nonFiniteLogProbability() {
        let record = BatchRecord(path: "a.jpg", caption: "", logProbability: .nan, error: nil)
        let json = BatchOutput.parseJSONLines(Array(BatchOutput.jsonLine(record).utf8))
        #expect(json.problem == nil && json.records.count == 1 && json.records[0].logProbability?.isNaN == true)
        let csv = BatchOutput.parseCSV(Array(BatchOutput.csvLine(record).utf8), headerExpected: false)
        #expect(csv.problem == nil && csv.records.count == 1 && csv.records[0].logProbability?.isNaN == true)
    }
}
