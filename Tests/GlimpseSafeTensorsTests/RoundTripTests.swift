import GlimpseSafeTensors
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Writing, and reading back what was written")
struct RoundTripTests {
    let tensors: [String: ShapedArray<Float>] = [
        "encoder.weight": ShapedArray(shape: [2, 3], values: [1, -2.5, 0x1p-149, -0.0, .infinity, .greatestFiniteMagnitude]),
        "bias": ShapedArray(shape: [3], values: [.nan, -.infinity, Float(bitPattern: 0x7FA0_0001)]),
        "scalar": ShapedArray(shape: [], values: [3.25]),
        "empty": ShapedArray(shape: [0, 4], values: []),
    ]
    let metadata = ["format": "glimpse", "epoch": "12", "quote\"and\\newline\n": "tab\t, control \u{1}, café"]

    func expectBitIdentical(_ read: SafeTensorsFile) throws {
        #expect(read.names == ["bias", "empty", "encoder.weight", "scalar"])
        for (name, tensor) in tensors {
            let got = try read.floats(named: name)
            #expect(got.shape == tensor.shape, "\(name)")
            #expect(got.values.map(\.bitPattern) == tensor.values.map(\.bitPattern), "\(name)")
        }
        #expect(read.metadata == metadata)
    }

    @Test("encoded bytes read back with equal bits, shapes and metadata")
    func inMemory() throws {
        try expectBitIdentical(SafeTensorsFile(bytes: SafeTensorsWriter.encode(tensors, metadata: metadata)))
    }

    @Test("a written file reads back with equal bits, shapes and metadata, and no temporary file is left")
    func onDisk() throws {
        try withTemporaryDirectory { (directory: String) throws in
            let path = directory + "/model.safetensors"
            try SafeTensorsWriter.write(tensors, metadata: metadata, to: path)
            try expectBitIdentical(SafeTensorsFile(contentsOf: path))
            #expect(try readFile(path) == SafeTensorsWriter.encode(tensors, metadata: metadata))
            #expect(try FileManagerListing.contents(of: directory) == ["model.safetensors"])
        }
    }

    @Test("a file far longer than its header's tensors (20 GB, sparse) is refused from its header, before its data is read")
    func hugeTrailingData() throws {
        try withTemporaryDirectory { (directory: String) throws in
            let path = directory + "/model.safetensors"
            try SafeTensorsWriter.write(tensors, metadata: metadata, to: path)
            let size = try readFile(path).count
            #expect(truncate(path, 20_000_000_000) == 0) // sparse: no disk used, nothing to read but zeros
            do {
                _ = try SafeTensorsFile(contentsOf: path)
                Issue.record("a 20 GB file of trailing zeros was accepted")
            } catch let error as SafeTensorsError {
                #expect(error.reason == .trailingBytes(count: 20_000_000_000 - size), "\(error)")
            }
            // Shorter than its tensors: refused the same way.
            #expect(truncate(path, off_t(size - 1)) == 0)
            #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(contentsOf: path) }
        }
    }

    @Test("writing over an existing file replaces it whole")
    func overwrite() throws {
        try withTemporaryDirectory { (directory: String) throws in
            let path = directory + "/model.safetensors"
            try SafeTensorsWriter.write(tensors, metadata: metadata, to: path)
            let smaller = ["w": ShapedArray<Float>(shape: [1], values: [9])]
            try SafeTensorsWriter.write(smaller, to: path)
            let read = try SafeTensorsFile(contentsOf: path)
            #expect(read.names == ["w"])
            #expect(read.metadata.isEmpty)
        }
    }

    @Test("a write that cannot happen throws, naming the path, and leaves nothing behind")
    func writeFailure() throws {
        try withTemporaryDirectory { (directory: String) throws in
            let path = directory + "/missing/model.safetensors"
            let error = #expect(throws: SafeTensorsError.self) { try SafeTensorsWriter.write(tensors, to: path) }
            #expect(error?.path == path)
            let isWriteFailure = if case .writeFailed = error?.reason { true } else { false }
            #expect(isWriteFailure, "expected writeFailed, got \(String(describing: error))")
            #expect(try FileManagerListing.contents(of: directory).isEmpty)
        }
    }

    @Test("`__metadata__` cannot name a tensor")
    func reservedName() {
        #expect(throws: SafeTensorsError(path: "<memory>", reason: .reservedName("__metadata__"))) {
            try SafeTensorsWriter.encode(["__metadata__": ShapedArray(shape: [1], values: [0])])
        }
    }

    @Test("output is deterministic: tensors sorted by name, contiguous, header padded with spaces to 8 bytes")
    func layout() throws {
        let bytes = try SafeTensorsWriter.encode(tensors, metadata: metadata)
        #expect(try SafeTensorsWriter.encode(tensors, metadata: metadata) == bytes)
        let file = try SafeTensorsFile(bytes: bytes)
        #expect(file.headerByteCount % 8 == 0)
        let header = bytes[8..<(8 + file.headerByteCount)]
        #expect(header.last == UInt8(ascii: " ") || header.last == UInt8(ascii: "}"))
        let offsets = file.entries.map(\.dataOffsets)
        #expect(offsets == [0..<12, 12..<12, 12..<36, 36..<40])  // bias, empty, encoder.weight, scalar
        #expect(bytes.count == 8 + file.headerByteCount + 40)
    }

    /// The bytes the reference writer produces (safetensors 0.8.0 `safetensors.numpy.save`):
    /// `save({"attn.0": np.arange(6, dtype=np.float32).reshape(1, 2, 3)})` and
    /// `save({"x": np.zeros(1, np.float32)}, metadata={"a\n\"\\\x01/é": "\x1f\x7f"})`.
    @Test("output matches the reference writer byte for byte")
    func referenceBytes() throws {
        let attention = try SafeTensorsWriter.encode(["attn.0": ShapedArray(shape: [1, 2, 3], values: [0, 1, 2, 3, 4, 5])])
        #expect(attention == lengthPrefix(64) + Array(#"{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}"#.utf8)
            + littleEndianBytes([0, 1, 2, 3, 4, 5] as [Float]))

        let escaped = try SafeTensorsWriter.encode(["x": ShapedArray(shape: [1], values: [0])], metadata: ["a\n\"\\\u{1}/é": "\u{1F}\u{7F}"])
        let header = #"{"__metadata__":{"a\n\"\\\u0001/é":"\u001f"# + "\u{7F}" + #""},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}    "#
        #expect(escaped == lengthPrefix(104) + Array(header.utf8) + [0, 0, 0, 0])

        #expect(try SafeTensorsWriter.encode([:], metadata: ["framework": "pt"])
            == lengthPrefix(40) + Array(#"{"__metadata__":{"framework":"pt"}}     "#.utf8))
        #expect(try SafeTensorsWriter.encode([:]) == lengthPrefix(8) + Array("{}      ".utf8))
    }

    /// Correctness only: speed belongs to the benchmark, not to tests.
    @Test("a 10 MB checkpoint reads back exactly")
    func largeCheckpoint() throws {
        let count = 2_621_440  // 10 MiB of F32
        let values = (0..<count).map { Float($0) * 0.5 }
        let bytes = try SafeTensorsWriter.encode(["big": ShapedArray(shape: [1024, count / 1024], values: values)])
        let read = try SafeTensorsFile(bytes: bytes).floats(named: "big")
        #expect(read.shape == [1024, count / 1024])
        #expect(read.values == values)
    }
}
