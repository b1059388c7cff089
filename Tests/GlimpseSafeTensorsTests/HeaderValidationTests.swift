import GlimpseSafeTensors
import Testing

/// Each malformed file below is crafted byte by byte and must be refused with the
/// one reason that names its problem.
@Suite("Reading refuses malformed files")
struct HeaderValidationTests {
    /// Eight bytes of F32 data: [1, 2].
    let twoFloats = littleEndianBytes([1, 2] as [Float])

    // MARK: The length prefix

    @Test("a file shorter than the 8-byte length prefix", arguments: [0, 1, 7])
    func fileTooSmall(byteCount: Int) {
        #expect(readingFailure([UInt8](repeating: 0, count: byteCount)) == .fileTooSmall(byteCount: byteCount))
    }

    @Test("a header length above the 100 MB cap is refused before anything is allocated",
          arguments: [UInt64(100_000_001), UInt64(1) << 40, UInt64.max])
    func headerTooLarge(declared: UInt64) {
        let bytes = lengthPrefix(declared) + Array("{}".utf8)
        #expect(readingFailure(bytes) == .headerTooLarge(declared: declared, limit: 100_000_000))
    }

    @Test("a header length running past the end of the file")
    func headerBeyondEnd() {
        let bytes = lengthPrefix(100) + Array(#"{"a":1}"#.utf8)
        #expect(readingFailure(bytes) == .headerBeyondEnd(declared: 100, available: 7))
    }

    @Test("a file cut inside its header")
    func fileCutInsideHeader() throws {
        let whole = try SafeTensorsWriter.encode(["weight": ShapedArray(shape: [2], values: [1, 2])])
        let cut = Array(whole.prefix(20))
        #expect(readingFailure(cut) == .headerBeyondEnd(declared: UInt64(whole.count - 8 - 8), available: 12))
    }

    // MARK: The header as JSON

    @Test("a header that is not UTF-8")
    func headerNotUTF8() {
        let header = Array(#"{"na"#.utf8) + [0xFF, 0xFE] + Array(#"me":{}}"#.utf8)
        #expect(readingFailure(safetensorsBytes(headerBytes: header)) == .headerNotUTF8)
    }

    @Test("a header that is not JSON", arguments: [
        (#"{"a":"#, 5),             // ends early
        (#"{"a":1,}"#, 7),          // trailing comma
        (#"{'a':1}"#, 1),           // single quotes
        (#"{"a":NaN}"#, 5),         // not a JSON literal
        (#"{"a":01}"#, 6),          // leading zero: the value ends at 0
        (#"{"a":1} x"#, 8),         // content after the object
        (#"{"a":"\ud800"}"#, 12),   // lone surrogate
        ("{\"a\":\"tab\t\"}", 9),  // raw control character in a string
        ("", 0),                    // empty header
    ])
    func invalidJSON(header: String, byteOffset: Int) {
        guard case .invalidJSON(let offset, let problem) = readingFailure(safetensorsBytes(header: header)) else {
            Issue.record("expected invalidJSON for \(header)")
            return
        }
        #expect(offset == byteOffset, "\(problem)")
    }

    @Test("deeply nested arrays are refused without exhausting the stack")
    func deepNesting() {
        let header = #"{"a":"# + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"
        guard case .invalidJSON(_, let problem) = readingFailure(safetensorsBytes(header: header)) else {
            Issue.record("expected invalidJSON")
            return
        }
        #expect(problem.contains("nested deeper"))
    }

    @Test("a header that is JSON but not an object", arguments: ["[]", #""tensors""#, "42", "null"])
    func headerNotObject(header: String) {
        #expect(readingFailure(safetensorsBytes(header: header)) == .headerNotObject)
    }

    // MARK: `__metadata__`

    @Test("metadata that is not an object", arguments: [#""pt""#, "[]", "7"])
    func metadataNotObject(value: String) {
        let bytes = safetensorsBytes(header: #"{"__metadata__":\#(value)}"#)
        #expect(readingFailure(bytes) == .metadataNotObject)
    }

    @Test("a metadata value that is not a string", arguments: ["1", "null", "true", #"["a"]"#, #"{"b":"c"}"#])
    func metadataValueNotString(value: String) {
        let bytes = safetensorsBytes(header: #"{"__metadata__":{"format":"pt","epoch":\#(value)}}"#)
        #expect(readingFailure(bytes) == .metadataValueNotString(key: "epoch"))
    }

    @Test("a metadata key given twice")
    func duplicateMetadataKey() {
        let bytes = safetensorsBytes(header: #"{"__metadata__":{"format":"pt","format":"np"}}"#)
        #expect(readingFailure(bytes) == .duplicateMetadataKey("format"))
    }

    // MARK: One tensor's entry

    @Test("two tensors with the same name")
    func duplicateTensor() {
        let header = #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        #expect(readingFailure(safetensorsBytes(header: header, data: twoFloats)) == .duplicateTensor("w"))
    }

    @Test("`__metadata__` given twice")
    func duplicateMetadata() {
        let bytes = safetensorsBytes(header: #"{"__metadata__":{"a":"1"},"__metadata__":{"b":"2"}}"#)
        #expect(readingFailure(bytes) == .duplicateTensor("__metadata__"))
    }

    @Test("a JSON syntax error is reported before any problem of content")
    func syntaxBeforeContent() {
        let bytes = safetensorsBytes(header: #"{"w":5,"#)
        #expect(readingFailure(bytes) == .invalidJSON(byteOffset: 7, problem: "unexpected end, expected a key"))
    }

    @Test("an entry that is not an object", arguments: ["[1]", #""F32""#, "null"])
    func entryNotObject(value: String) {
        #expect(readingFailure(safetensorsBytes(header: #"{"w":\#(value)}"#)) == .entryNotObject(tensor: "w"))
    }

    @Test("an entry missing a field", arguments: [
        (#"{"shape":[2],"data_offsets":[0,8]}"#, "dtype"),
        (#"{"dtype":"F32","data_offsets":[0,8]}"#, "shape"),
        (#"{"dtype":"F32","shape":[2]}"#, "data_offsets"),
    ])
    func missingField(entry: String, field: String) {
        let bytes = safetensorsBytes(header: #"{"w":\#(entry)}"#, data: twoFloats)
        #expect(readingFailure(bytes) == .missingField(tensor: "w", field: field))
    }

    @Test("a field given twice in one entry")
    func duplicateField() {
        let bytes = safetensorsBytes(header: #"{"w":{"dtype":"F32","shape":[2],"shape":[2],"data_offsets":[0,8]}}"#, data: twoFloats)
        #expect(readingFailure(bytes) == .duplicateField(tensor: "w", field: "shape"))
    }

    @Test("a field of the wrong JSON type or length", arguments: [
        (#""dtype":32,"shape":[2],"data_offsets":[0,8]"#, "dtype"),
        (#""dtype":"F32","shape":"2","data_offsets":[0,8]"#, "shape"),
        (#""dtype":"F32","shape":2,"data_offsets":[0,8]"#, "shape"),
        (#""dtype":"F32","shape":[2],"data_offsets":"0,8""#, "data_offsets"),
        (#""dtype":"F32","shape":[2],"data_offsets":[8]"#, "data_offsets"),
        (#""dtype":"F32","shape":[2],"data_offsets":[0,8,8]"#, "data_offsets"),
        (#""dtype":"F32","shape":[2],"data_offsets":[0.0,8]"#, "data_offsets"),
        (#""dtype":"F32","shape":[2],"data_offsets":[-4,4]"#, "data_offsets"),
        (#""dtype":"F32","shape":[2],"data_offsets":[0,99999999999999999999]"#, "data_offsets"),
    ])
    func invalidField(fields: String, field: String) {
        guard case .invalidField(let tensor, let named, _) = readingFailure(safetensorsBytes(header: #"{"w":{\#(fields)}}"#, data: twoFloats)) else {
            Issue.record("expected invalidField for \(fields)")
            return
        }
        #expect(tensor == "w")
        #expect(named == field)
    }

    @Test("an unknown dtype", arguments: ["F31", "f32", "float32", ""])
    func unknownDType(dtype: String) {
        let bytes = safetensorsBytes(header: #"{"w":{"dtype":"\#(dtype)","shape":[2],"data_offsets":[0,8]}}"#, data: twoFloats)
        #expect(readingFailure(bytes) == .unknownDType(tensor: "w", dtype: dtype))
    }

    @Test("a dimension that is not a non-negative integer",
          arguments: ["-1", "-0", "2.5", "2.0", "2e0", #""2""#, "null", "true", "99999999999999999999"])
    func invalidDimension(dimension: String) {
        let bytes = safetensorsBytes(header: #"{"w":{"dtype":"F32","shape":[1,\#(dimension)],"data_offsets":[0,8]}}"#, data: twoFloats)
        #expect(readingFailure(bytes) == .invalidDimension(tensor: "w", index: 1, value: dimension))
    }

    @Test("a shape whose element or byte count overflows", arguments: [
        "[4294967296,4294967296]",  // 2^64 elements
        "[2305843009213693952]",    // 2^61 elements, 2^63 bytes
    ])
    func elementCountOverflow(shape: String) {
        let bytes = safetensorsBytes(header: #"{"w":{"dtype":"F32","shape":\#(shape),"data_offsets":[0,8]}}"#, data: twoFloats)
        guard case .elementCountOverflow(let tensor, _) = readingFailure(bytes) else {
            Issue.record("expected elementCountOverflow for \(shape)")
            return
        }
        #expect(tensor == "w")
    }

    // MARK: Where the tensors lie

    @Test("offsets whose begin is after their end")
    func offsetsReversed() {
        let bytes = safetensorsBytes(header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, data: twoFloats)
        #expect(readingFailure(bytes) == .offsetsReversed(tensor: "w", begin: 8, end: 0))
    }

    @Test("a byte count that disagrees with shape and dtype", arguments: [
        ("F32", "[3]", 12, 8),
        ("F16", "[2]", 4, 8),
        ("I64", "[2,1]", 16, 8),
        ("F32", "[]", 4, 8),
        ("F32", "[2,0]", 0, 8),
    ])
    func byteCountMismatch(dtype: String, shape: String, expected: Int, declared: Int) throws {
        let bytes = safetensorsBytes(header: #"{"w":{"dtype":"\#(dtype)","shape":\#(shape),"data_offsets":[0,8]}}"#, data: twoFloats)
        guard case .byteCountMismatch(let tensor, let type, _, let needed, let spanned) = readingFailure(bytes) else {
            Issue.record("expected byteCountMismatch for \(dtype) \(shape)")
            return
        }
        #expect(tensor == "w")
        #expect(type.rawValue == dtype)
        #expect(needed == expected)
        #expect(spanned == declared)
    }

    @Test("two tensors sharing bytes")
    func overlappingTensors() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        let bytes = safetensorsBytes(header: header, data: littleEndianBytes([1, 2, 3] as [Float]))
        #expect(readingFailure(bytes) == .overlappingTensors(tensor: "b", other: "a"))
    }

    @Test("two tensors at the same offsets")
    func identicalOffsets() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        #expect(readingFailure(safetensorsBytes(header: header, data: twoFloats)) == .overlappingTensors(tensor: "b", other: "a"))
    }

    @Test("bytes before the first tensor")
    func gapAtStart() {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        #expect(readingFailure(safetensorsBytes(header: header, data: twoFloats)) == .gapBeforeTensor(tensor: "a", expectedBegin: 0, begin: 4))
    }

    @Test("bytes between two tensors")
    func gapBetweenTensors() {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        let bytes = safetensorsBytes(header: header, data: littleEndianBytes([1, 2, 3] as [Float]))
        #expect(readingFailure(bytes) == .gapBeforeTensor(tensor: "b", expectedBegin: 4, begin: 8))
    }

    @Test("bytes after the last tensor")
    func trailingBytes() {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        #expect(readingFailure(safetensorsBytes(header: header, data: twoFloats + [0])) == .trailingBytes(count: 5))
    }

    @Test("offsets past the end of the data")
    func offsetsBeyondData() {
        let header = #"{"a":{"dtype":"F32","shape":[1024],"data_offsets":[0,4096]}}"#
        #expect(readingFailure(safetensorsBytes(header: header, data: twoFloats)) == .offsetsBeyondData(tensor: "a", end: 4096, dataByteCount: 8))
    }

    @Test("a valid file cut short inside its data names the first tensor it cuts into")
    func truncatedData() throws {
        let whole = try SafeTensorsWriter.encode([
            "a": ShapedArray(shape: [2], values: [1, 2]),
            "b": ShapedArray(shape: [3], values: [3, 4, 5]),
        ])
        let file = try SafeTensorsFile(bytes: whole)
        let dataStart = 8 + file.headerByteCount
        for cut in [1, 12, 20] {
            let truncated = Array(whole.dropLast(cut))
            let available = whole.count - cut - dataStart
            let expectedTensor = available < 8 ? "a" : "b"
            let expectedEnd = available < 8 ? 8 : 20
            #expect(readingFailure(truncated) == .offsetsBeyondData(tensor: expectedTensor, end: expectedEnd, dataByteCount: available))
        }
    }

    // MARK: The path in errors

    @Test("an error from a file on disk names the path and the problem")
    func errorNamesPath() throws {
        try withTemporaryDirectory { (directory: String) throws in
            let path = directory + "/broken.safetensors"
            let header = #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#
            try writeFile(safetensorsBytes(header: header, data: twoFloats), to: path)
            let error = #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(contentsOf: path) }
            #expect(error?.path == path)
            #expect(error?.description == "\(path): tensor 'a': F32 shape [3] needs 12 bytes, but data_offsets span 8")
        }
    }

    @Test("a missing file is unreadable, with the system's reason")
    func missingFile() {
        let error = #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(contentsOf: "/nonexistent/model.safetensors") }
        #expect(error?.reason == .unreadable("No such file or directory"))
        #expect(error?.description.hasPrefix("/nonexistent/model.safetensors: cannot read file") == true)
    }

    @Test("a directory is unreadable")
    func directoryIsUnreadable() throws {
        try withTemporaryDirectory { (directory: String) throws in
            #expect(throws: SafeTensorsError(path: directory, reason: .unreadable("is a directory"))) {
                try SafeTensorsFile(contentsOf: directory)
            }
        }
    }
}

/// What the reader accepts at the edges of the format, following the reference implementation.
@Suite("Reading accepts the format's edge cases")
struct HeaderAcceptanceTests {
    @Test("an empty header with no data: a file of no tensors")
    func emptyFile() throws {
        let file = try SafeTensorsFile(bytes: safetensorsBytes(header: "{}"))
        #expect(file.entries.isEmpty)
        #expect(file.metadata.isEmpty)
    }

    @Test("whitespace around the header object, as writers pad it")
    func whitespace() throws {
        let header = " \n{\"a\" : {\"dtype\":\"F32\", \"shape\":[1], \"data_offsets\":[0, 4]}}\t   "
        let file = try SafeTensorsFile(bytes: safetensorsBytes(header: header, data: littleEndianBytes([5] as [Float])))
        #expect(try file.floats(named: "a").values == [5])
    }

    @Test("`__metadata__: null` means no metadata; unknown fields in an entry are ignored")
    func referenceLeniency() throws {
        let header = #"{"__metadata__":null,"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"comment":{"x":[1]}}}"#
        let file = try SafeTensorsFile(bytes: safetensorsBytes(header: header, data: littleEndianBytes([5] as [Float])))
        #expect(file.metadata.isEmpty)
        #expect(file.names == ["a"])
    }

    @Test("zero-element tensors may share an offset with each other and their neighbours")
    func zeroElementTensors() throws {
        let header = #"{"e1":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"e2":{"dtype":"I64","shape":[3,0],"data_offsets":[4,4]}}"#
        let file = try SafeTensorsFile(bytes: safetensorsBytes(header: header, data: littleEndianBytes([5] as [Float])))
        #expect(file.names == ["a", "e1", "e2"])
        #expect(try file.floats(named: "e1") == ShapedArray(shape: [0], values: []))
        #expect(try file.int64s(named: "e2") == ShapedArray(shape: [3, 0], values: []))
    }

    @Test("a header of 100 000 dimensions and a large unknown field reads without trouble")
    func largeHeader() throws {
        let zeros = Array(repeating: "0", count: 100_000).joined(separator: ",")
        let header = #"{"e":{"dtype":"F32","shape":[\#(zeros)],"data_offsets":[0,0],"notes":[\#(zeros)]}}"#
        let file = try SafeTensorsFile(bytes: safetensorsBytes(header: header))
        #expect(file.entry(named: "e")?.shape.count == 100_000)
        #expect(file.entry(named: "e")?.elementCount == 0)
    }

    @Test("names and metadata with escapes and non-ASCII text")
    func escapedNames() throws {
        let header = #"{"__metadata__":{"caf\u00e9":"a\"b\\c\n\ud83d\ude00"},"l\u00e4yer/0":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        let file = try SafeTensorsFile(bytes: safetensorsBytes(header: header, data: littleEndianBytes([5] as [Float])))
        #expect(file.metadata == ["café": "a\"b\\c\n😀"])
        #expect(file.names == ["läyer/0"])
    }

    @Test("tensors of dtypes this reader does not decode are listed, and refused by value")
    func undecodedDType() throws {
        let header = #"{"ids":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}"#
        let file = try SafeTensorsFile(bytes: safetensorsBytes(header: header, data: [1, 0, 0, 0, 2, 0, 0, 0]))
        #expect(file.entry(named: "ids") == SafeTensorsEntry(name: "ids", dtype: .int32, shape: [2], elementCount: 2, dataOffsets: 0..<8))
        #expect(try file.rawBytes(named: "ids") == [1, 0, 0, 0, 2, 0, 0, 0])
        #expect(throws: SafeTensorsError(path: "<memory>", reason: .wrongDType(tensor: "ids", dtype: .int32, expected: [.float32, .float16, .bfloat16]))) {
            try file.floats(named: "ids")
        }
    }
}
