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
        func failure(_ reason: SafeTensorsError.Reason) -> SafeTensorsError {
            SafeTensorsError(path: path, reason: reason)
        }
        guard file.count >= 8 else { throw failure(.fileTooSmall(byteCount: file.count)) }
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

        let json: JSONValue
        do {
            json = try JSONParser.parse(headerBytes)
        } catch {
            throw failure(.invalidJSON(byteOffset: error.byteOffset, problem: error.problem))
        }
        guard case .object(let members) = json else { throw failure(.headerNotObject) }

        var metadata: [String: String] = [:]
        var sawMetadata = false
        var entries: [SafeTensorsEntry] = []
        entries.reserveCapacity(members.count)
        var names = Set<String>()
        for member in members {
            let (key, value) = (member.key, member.value)
            if key == "__metadata__" {
                if sawMetadata { throw failure(.duplicateTensor(key)) }
                sawMetadata = true
                metadata = try parseMetadata(value, failure: failure)
                continue
            }
            guard names.insert(key).inserted else { throw failure(.duplicateTensor(key)) }
            entries.append(try parseEntry(named: key, value, failure: failure))
        }
        try checkLayout(entries, dataByteCount: file.count - dataStart, failure: failure)
        return SafeTensorsHeader(metadata: metadata, entries: entries, dataStart: dataStart)
    }

    private static func parseMetadata(
        _ value: JSONValue, failure: (SafeTensorsError.Reason) -> SafeTensorsError
    ) throws(SafeTensorsError) -> [String: String] {
        switch value {
        case .null:
            return [:]  // the reference reads `"__metadata__": null` as no metadata
        case .object(let members):
            var metadata: [String: String] = [:]
            for member in members {
                let (key, value) = (member.key, member.value)
                guard case .string(let text) = value else { throw failure(.metadataValueNotString(key: key)) }
                guard metadata.updateValue(text, forKey: key) == nil else { throw failure(.duplicateMetadataKey(key)) }
            }
            return metadata
        default:
            throw failure(.metadataNotObject)
        }
    }

    private static func parseEntry(
        named name: String, _ value: JSONValue, failure: (SafeTensorsError.Reason) -> SafeTensorsError
    ) throws(SafeTensorsError) -> SafeTensorsEntry {
        guard case .object(let members) = value else { throw failure(.entryNotObject(tensor: name)) }
        var fields: [String: JSONValue] = [:]
        for member in members {
            let (key, value) = (member.key, member.value)
            // Unknown fields are ignored, as the reference does; known ones must be unique.
            guard ["dtype", "shape", "data_offsets"].contains(key) else { continue }
            guard fields.updateValue(value, forKey: key) == nil else {
                throw failure(.duplicateField(tensor: name, field: key))
            }
        }
        guard let dtypeValue = fields["dtype"] else { throw failure(.missingField(tensor: name, field: "dtype")) }
        guard let shapeValue = fields["shape"] else { throw failure(.missingField(tensor: name, field: "shape")) }
        guard let offsetsValue = fields["data_offsets"] else {
            throw failure(.missingField(tensor: name, field: "data_offsets"))
        }

        guard case .string(let dtypeName) = dtypeValue else {
            throw failure(.invalidField(tensor: name, field: "dtype", expected: "a string, not \(dtypeValue.kind)"))
        }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
            throw failure(.unknownDType(tensor: name, dtype: dtypeName))
        }

        guard case .array(let dimensionValues) = shapeValue else {
            throw failure(.invalidField(tensor: name, field: "shape", expected: "an array, not \(shapeValue.kind)"))
        }
        var shape: [Int] = []
        shape.reserveCapacity(dimensionValues.count)
        for (index, dimensionValue) in dimensionValues.enumerated() {
            guard let dimension = dimensionValue.nonNegativeInteger else {
                throw failure(.invalidDimension(tensor: name, index: index, value: dimensionValue.literal))
            }
            shape.append(dimension)
        }

        guard case .array(let offsetValues) = offsetsValue, offsetValues.count == 2,
              let begin = offsetValues[0].nonNegativeInteger, let end = offsetValues[1].nonNegativeInteger
        else {
            throw failure(.invalidField(tensor: name, field: "data_offsets", expected: "[begin, end], two non-negative integers"))
        }
        guard begin <= end else { throw failure(.offsetsReversed(tensor: name, begin: begin, end: end)) }

        var elementCount = 1
        for dimension in shape {
            let (product, overflow) = elementCount.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw failure(.elementCountOverflow(tensor: name, shape: shape)) }
            elementCount = product
        }
        let (byteCount, overflow) = elementCount.multipliedReportingOverflow(by: dtype.byteCount)
        guard !overflow else { throw failure(.elementCountOverflow(tensor: name, shape: shape)) }
        guard byteCount == end - begin else {
            throw failure(.byteCountMismatch(tensor: name, dtype: dtype, shape: shape, expected: byteCount, declared: end - begin))
        }
        return SafeTensorsEntry(name: name, dtype: dtype, shape: shape, elementCount: elementCount, dataOffsets: begin..<end)
    }

    /// Offsets in order must tile `0..<dataByteCount`.
    private static func checkLayout(
        _ entries: [SafeTensorsEntry], dataByteCount: Int, failure: (SafeTensorsError.Reason) -> SafeTensorsError
    ) throws(SafeTensorsError) {
        let ordered = entries.sorted {
            ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound)
        }
        var covered = 0
        var previous: String?
        for entry in ordered {
            let begin = entry.dataOffsets.lowerBound
            if begin < covered, let previous {
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
