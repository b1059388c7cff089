/// One tensor as the header describes it.
public struct SafeTensorsEntry: Equatable, Sendable {
    public let name: String
    public let dtype: SafeTensorsDType
    /// Dimensions, outermost first (row-major). `[]` is a scalar of one element.
    public let shape: [Int]
    /// The product of `shape`.
    public let elementCount: Int
    /// Byte range within the data buffer, which starts right after the header.
    public let dataOffsets: Range<Int>

    public init(name: String, dtype: SafeTensorsDType, shape: [Int], elementCount: Int, dataOffsets: Range<Int>) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.elementCount = elementCount
        self.dataOffsets = dataOffsets
    }
}

/// The validated header of a safetensors file.
///
/// Layout rules follow the reference implementation (huggingface/safetensors,
/// `Metadata::validate` and `read_metadata`): ordered by offset, the tensors must
/// tile the data buffer exactly, from byte 0 to its last byte, with no gap, no
/// overlap and nothing after the last tensor. Zero-byte tensors may share an offset.
struct SafeTensorsHeader {
    /// The reference implementation's cap on the header length.
    static let maximumByteCount = 100_000_000

    var metadata: [String: String]
    /// In header order.
    var entries: [SafeTensorsEntry]
    /// Where the data buffer starts in the file: 8 + the header length.
    var dataStart: Int

    /// Reads the length prefix and header of `file` and checks the tensors' layout
    /// against the `file.count - dataStart` bytes that follow.
    static func parse(file: [UInt8], path: String) throws(SafeTensorsError) -> SafeTensorsHeader {
        try parse(prefix: file, fileByteCount: file.count, path: path)
    }

    /// The header from the file's first bytes (`prefix`, at least the 8-byte length and the
    /// header it declares, when the file has them) and the file's size: the layout is checked
    /// against the size, so a file longer or shorter than its tensors is refused before its
    /// data is read.
    static func parse(prefix file: [UInt8], fileByteCount: Int, path: String) throws(SafeTensorsError) -> SafeTensorsHeader {
        func failure(_ reason: SafeTensorsError.Reason) -> SafeTensorsError {
            SafeTensorsError(path: path, reason: reason)
        }
        guard file.count >= 8 else { throw failure(.fileTooSmall(byteCount: fileByteCount)) }
        var declared: UInt64 = 0
        for index in (0..<8).reversed() {
            declared = declared << 8 | UInt64(file[index])
        }
        // Compare as UInt64 before converting: the prefix is untrusted.
        guard declared <= UInt64(maximumByteCount) else {
            throw failure(.headerTooLarge(declared: declared, limit: maximumByteCount))
        }
        guard declared <= UInt64(file.count - 8) else {
            throw failure(.headerBeyondEnd(declared: declared, available: file.count - 8))
        }
        let dataStart = 8 + Int(declared)
        let headerBytes = Array(file[8..<dataStart])
        guard String(validating: headerBytes, as: UTF8.self) != nil else { throw failure(.headerNotUTF8) }
        // Syntax first, in a pass that allocates nothing, so that a header that is
        // both malformed JSON and wrong in content reports the JSON error.
        do {
            try JSONReader.validate(headerBytes)
        } catch {
            throw failure(.invalidJSON(byteOffset: error.byteOffset, problem: error.problem))
        }
        var reader = HeaderReader(reader: JSONReader(headerBytes), path: path)
        let (metadata, entries) = try reader.readHeader()
        try checkLayout(entries, dataByteCount: fileByteCount - dataStart, failure: failure)
        return SafeTensorsHeader(metadata: metadata, entries: entries, dataStart: dataStart)
    }

    /// Offsets in order must tile `0..<dataByteCount`.
    private static func checkLayout(
        _ entries: [SafeTensorsEntry], dataByteCount: Int, failure: (SafeTensorsError.Reason) -> SafeTensorsError
    ) throws(SafeTensorsError) {
        // Names break ties so that the tensor named in an error does not depend on header order.
        let ordered = entries.sorted {
            ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound)
                || ($0.dataOffsets == $1.dataOffsets && $0.name.utf8.lexicographicallyPrecedes($1.name.utf8))
        }
        var covered = 0
        var previous = ""  // the last tensor of non-zero size; covered > 0 only once there is one
        for entry in ordered {
            let begin = entry.dataOffsets.lowerBound
            if begin < covered {
                throw failure(.overlappingTensors(tensor: entry.name, other: previous))
            }
            if begin > covered {
                throw failure(.gapBeforeTensor(tensor: entry.name, expectedBegin: covered, begin: begin))
            }
            covered = entry.dataOffsets.upperBound
            if !entry.dataOffsets.isEmpty { previous = entry.name }
        }
        // Only now compare with the file, so that a cut-short file of sound layout
        // names the first tensor it cuts into.
        if let cut = ordered.first(where: { $0.dataOffsets.upperBound > dataByteCount }) {
            throw failure(.offsetsBeyondData(tensor: cut.name, end: cut.dataOffsets.upperBound, dataByteCount: dataByteCount))
        }
        if covered < dataByteCount {
            throw failure(.trailingBytes(count: dataByteCount - covered))
        }
    }
}

/// Reads the meaning of a header already known to be well-formed JSON, keeping only
/// the metadata strings and one `SafeTensorsEntry` per tensor.
private struct HeaderReader {
    var reader: JSONReader
    let path: String

    func failure(_ reason: SafeTensorsError.Reason) -> SafeTensorsError {
        SafeTensorsError(path: path, reason: reason)
    }

    // The JSON reader's steps, with its syntax errors reported as `invalidJSON`
    // (which `JSONReader.validate` has already ruled out).

    private func invalidJSON(_ error: JSONSyntaxError) -> SafeTensorsError {
        failure(.invalidJSON(byteOffset: error.byteOffset, problem: error.problem))
    }

    private mutating func peekKind() throws(SafeTensorsError) -> JSONReader.Kind {
        do { return try reader.peekKind() } catch { throw invalidJSON(error) }
    }

    private mutating func enterObject() throws(SafeTensorsError) -> JSONReader.Container {
        do { return try reader.enterObject() } catch { throw invalidJSON(error) }
    }

    private mutating func nextKey(_ object: inout JSONReader.Container) throws(SafeTensorsError) -> String? {
        do { return try reader.nextKey(&object) } catch { throw invalidJSON(error) }
    }

    private mutating func enterArray() throws(SafeTensorsError) -> JSONReader.Container {
        do { return try reader.enterArray() } catch { throw invalidJSON(error) }
    }

    private mutating func nextElement(_ array: inout JSONReader.Container) throws(SafeTensorsError) -> Bool {
        do { return try reader.nextElement(&array) } catch { throw invalidJSON(error) }
    }

    private mutating func readString() throws(SafeTensorsError) -> String {
        do { return try reader.readString() } catch { throw invalidJSON(error) }
    }

    private mutating func readNonNegativeInteger() throws(SafeTensorsError) -> Int? {
        do { return try reader.readNonNegativeInteger() } catch { throw invalidJSON(error) }
    }

    private mutating func skipValue() throws(SafeTensorsError) {
        do { try reader.skipValue() } catch { throw invalidJSON(error) }
    }

    private mutating func skipValueReturningText() throws(SafeTensorsError) -> String {
        do { return try reader.skipValueReturningText() } catch { throw invalidJSON(error) }
    }

    // MARK: The header's meaning

    mutating func readHeader() throws(SafeTensorsError) -> (metadata: [String: String], entries: [SafeTensorsEntry]) {
        guard try peekKind() == .object else { throw failure(.headerNotObject) }
        var object = try enterObject()
        var metadata: [String: String] = [:]
        var sawMetadata = false
        var entries: [SafeTensorsEntry] = []
        var names = Set<String>()
        while let key = try nextKey(&object) {
            if key == "__metadata__" {
                if sawMetadata { throw failure(.duplicateTensor(key)) }
                sawMetadata = true
                metadata = try readMetadata()
                continue
            }
            guard names.insert(key).inserted else { throw failure(.duplicateTensor(key)) }
            entries.append(try readEntry(named: key))
        }
        return (metadata, entries)
    }

    mutating func readMetadata() throws(SafeTensorsError) -> [String: String] {
        switch try peekKind() {
        case .null:
            try skipValue()
            return [:]  // the reference reads `"__metadata__": null` as no metadata
        case .object:
            var object = try enterObject()
            var metadata: [String: String] = [:]
            while let key = try nextKey(&object) {
                guard try peekKind() == .string else { throw failure(.metadataValueNotString(key: key)) }
                let value = try readString()
                guard metadata.updateValue(value, forKey: key) == nil else { throw failure(.duplicateMetadataKey(key)) }
            }
            return metadata
        default:
            throw failure(.metadataNotObject)
        }
    }

    mutating func readEntry(named name: String) throws(SafeTensorsError) -> SafeTensorsEntry {
        guard try peekKind() == .object else { throw failure(.entryNotObject(tensor: name)) }
        var object = try enterObject()
        var dtype: SafeTensorsDType?
        var shape: [Int]?
        var offsets: (begin: Int, end: Int)?
        while let key = try nextKey(&object) {
            switch key {
            case "dtype":
                guard dtype == nil else { throw failure(.duplicateField(tensor: name, field: key)) }
                dtype = try readDType(of: name)
            case "shape":
                guard shape == nil else { throw failure(.duplicateField(tensor: name, field: key)) }
                shape = try readShape(of: name)
            case "data_offsets":
                guard offsets == nil else { throw failure(.duplicateField(tensor: name, field: key)) }
                offsets = try readOffsets(of: name)
            default:
                try skipValue()  // unknown fields are ignored, as the reference does
            }
        }
        guard let dtype else { throw failure(.missingField(tensor: name, field: "dtype")) }
        guard let shape else { throw failure(.missingField(tensor: name, field: "shape")) }
        guard let offsets else { throw failure(.missingField(tensor: name, field: "data_offsets")) }
        guard offsets.begin <= offsets.end else {
            throw failure(.offsetsReversed(tensor: name, begin: offsets.begin, end: offsets.end))
        }

        var elementCount = 1
        for dimension in shape {
            let (product, overflow) = elementCount.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw failure(.elementCountOverflow(tensor: name, shape: shape)) }
            elementCount = product
        }
        let (byteCount, overflow) = elementCount.multipliedReportingOverflow(by: dtype.byteCount)
        guard !overflow else { throw failure(.elementCountOverflow(tensor: name, shape: shape)) }
        let declared = offsets.end - offsets.begin
        guard byteCount == declared else {
            throw failure(.byteCountMismatch(tensor: name, dtype: dtype, shape: shape, expected: byteCount, declared: declared))
        }
        return SafeTensorsEntry(name: name, dtype: dtype, shape: shape, elementCount: elementCount,
                                dataOffsets: offsets.begin..<offsets.end)
    }

    mutating func readDType(of name: String) throws(SafeTensorsError) -> SafeTensorsDType {
        let kind = try peekKind()
        guard kind == .string else {
            throw failure(.invalidField(tensor: name, field: "dtype", expected: "a string, not \(kind.phrase)"))
        }
        let text = try readString()
        guard let dtype = SafeTensorsDType(rawValue: text) else { throw failure(.unknownDType(tensor: name, dtype: text)) }
        return dtype
    }

    mutating func readShape(of name: String) throws(SafeTensorsError) -> [Int] {
        let kind = try peekKind()
        guard kind == .array else {
            throw failure(.invalidField(tensor: name, field: "shape", expected: "an array, not \(kind.phrase)"))
        }
        var array = try enterArray()
        var shape: [Int] = []
        while try nextElement(&array) {
            guard let dimension = try readNonNegativeInteger() else {
                let text = try skipValueReturningText()
                throw failure(.invalidDimension(tensor: name, index: shape.count, value: text))
            }
            shape.append(dimension)
        }
        return shape
    }

    mutating func readOffsets(of name: String) throws(SafeTensorsError) -> (begin: Int, end: Int) {
        let invalid = failure(.invalidField(tensor: name, field: "data_offsets",
                                            expected: "[begin, end], two non-negative integers"))
        guard try peekKind() == .array else { throw invalid }
        var array = try enterArray()
        var values: [Int] = []
        while try nextElement(&array) {
            guard values.count < 2, let value = try readNonNegativeInteger() else { throw invalid }
            values.append(value)
        }
        guard values.count == 2 else { throw invalid }
        return (values[0], values[1])
    }
}
