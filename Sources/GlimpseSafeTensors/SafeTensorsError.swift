/// Why a safetensors file could not be read or written. Every error names the file
/// (or the label given for in-memory bytes) and, where one is involved, the tensor.
public struct SafeTensorsError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        // MARK: The file and the header's length prefix

        /// The file could not be opened or read (missing, a directory, no permission).
        case unreadable(String)
        /// Fewer than the 8 bytes of the header-length prefix.
        case fileTooSmall(byteCount: Int)
        /// The length prefix is above the cap; nothing was allocated from it.
        case headerTooLarge(declared: UInt64, limit: Int)
        /// The length prefix runs past the end of the file: `available` bytes follow the prefix.
        case headerBeyondEnd(declared: UInt64, available: Int)

        // MARK: The header as JSON

        /// The header bytes are not UTF-8.
        case headerNotUTF8
        /// The header is not JSON; `byteOffset` counts from the start of the header.
        case invalidJSON(byteOffset: Int, problem: String)
        /// The header is JSON but not an object.
        case headerNotObject

        // MARK: `__metadata__`

        /// `__metadata__` is neither an object nor null.
        case metadataNotObject
        /// A `__metadata__` value is not a string.
        case metadataValueNotString(key: String)
        /// A `__metadata__` key appears twice.
        case duplicateMetadataKey(String)

        // MARK: One tensor's entry

        /// Two entries have the same name.
        case duplicateTensor(String)
        /// A tensor's entry is not a JSON object.
        case entryNotObject(tensor: String)
        /// A tensor's entry lacks `dtype`, `shape` or `data_offsets`.
        case missingField(tensor: String, field: String)
        /// A field appears twice in one entry.
        case duplicateField(tensor: String, field: String)
        /// A field has the wrong JSON type or length; `expected` says what it should be.
        case invalidField(tensor: String, field: String, expected: String)
        /// `dtype` is a string this reader does not know.
        case unknownDType(tensor: String, dtype: String)
        /// A dimension is negative, not an integer, or too large; `value` is as written.
        case invalidDimension(tensor: String, index: Int, value: String)
        /// The product of the dimensions, or its size in bytes, does not fit in an `Int`.
        case elementCountOverflow(tensor: String, shape: [Int])

        // MARK: Where the tensors lie in the data buffer

        /// `data_offsets` has its begin after its end.
        case offsetsReversed(tensor: String, begin: Int, end: Int)
        /// `end - begin` differs from the element count times the dtype size.
        case byteCountMismatch(tensor: String, dtype: SafeTensorsDType, shape: [Int], expected: Int, declared: Int)
        /// `tensor` begins before `other` (which lies earlier in the buffer) ends.
        case overlappingTensors(tensor: String, other: String)
        /// Bytes between the previous tensor (or the start of the buffer) and `tensor` belong to no tensor.
        case gapBeforeTensor(tensor: String, expectedBegin: Int, begin: Int)
        /// `tensor` ends past the end of the data buffer: the file is truncated or the offsets are wrong.
        case offsetsBeyondData(tensor: String, end: Int, dataByteCount: Int)
        /// Bytes after the last tensor belong to no tensor.
        case trailingBytes(count: Int)

        // MARK: Lookup

        /// No tensor has this name.
        case tensorNotFound(String)
        /// The tensor's dtype is not one the requested accessor reads.
        case wrongDType(tensor: String, dtype: SafeTensorsDType, expected: [SafeTensorsDType])

        // MARK: Writing

        /// `__metadata__` cannot name a tensor: the header uses it for the metadata map.
        case reservedName(String)
        /// The file could not be written; any previous file at the path is untouched.
        case writeFailed(String)
    }

    /// The file path, or the label given for in-memory bytes.
    public let path: String
    public let reason: Reason

    public init(path: String, reason: Reason) {
        self.path = path
        self.reason = reason
    }

    /// The reason alone, without the path.
    public var reasonDescription: String {
        switch reason {
        case .unreadable(let message):
            return "cannot read file: \(message)"
        case .fileTooSmall(let byteCount):
            return "not a safetensors file: \(byteCount) bytes, shorter than the 8-byte header length"
        case .headerTooLarge(let declared, let limit):
            return "header length \(declared) is above the limit of \(limit) bytes"
        case .headerBeyondEnd(let declared, let available):
            return "header length \(declared) runs past the end of the file (\(available) bytes follow the length)"
        case .headerNotUTF8:
            return "header is not valid UTF-8"
        case .invalidJSON(let byteOffset, let problem):
            return "header is not valid JSON at byte \(byteOffset): \(problem)"
        case .headerNotObject:
            return "header is not a JSON object"
        case .metadataNotObject:
            return "__metadata__ is not an object of strings"
        case .metadataValueNotString(let key):
            return "__metadata__ value for '\(key)' is not a string"
        case .duplicateMetadataKey(let key):
            return "__metadata__ key '\(key)' appears twice"
        case .duplicateTensor(let name):
            return "tensor '\(name)' appears twice in the header"
        case .entryNotObject(let tensor):
            return "tensor '\(tensor)': entry is not an object"
        case .missingField(let tensor, let field):
            return "tensor '\(tensor)': missing \(field)"
        case .duplicateField(let tensor, let field):
            return "tensor '\(tensor)': \(field) appears twice"
        case .invalidField(let tensor, let field, let expected):
            return "tensor '\(tensor)': \(field) should be \(expected)"
        case .unknownDType(let tensor, let dtype):
            return "tensor '\(tensor)': unknown dtype '\(dtype)'"
        case .invalidDimension(let tensor, let index, let value):
            return "tensor '\(tensor)': dimension \(index) is \(value), not a non-negative integer"
        case .elementCountOverflow(let tensor, let shape):
            return "tensor '\(tensor)': shape \(shape) is too large to address"
        case .offsetsReversed(let tensor, let begin, let end):
            return "tensor '\(tensor)': data_offsets [\(begin), \(end)] begin after they end"
        case .byteCountMismatch(let tensor, let dtype, let shape, let expected, let declared):
            return "tensor '\(tensor)': \(dtype) shape \(shape) needs \(expected) bytes, but data_offsets span \(declared)"
        case .overlappingTensors(let tensor, let other):
            return "tensor '\(tensor)' overlaps tensor '\(other)' in the data buffer"
        case .gapBeforeTensor(let tensor, let expectedBegin, let begin):
            return "tensor '\(tensor)' begins at \(begin), leaving bytes \(expectedBegin)..<\(begin) unused"
        case .offsetsBeyondData(let tensor, let end, let dataByteCount):
            return "tensor '\(tensor)' ends at \(end), past the \(dataByteCount)-byte data buffer (truncated file?)"
        case .trailingBytes(let count):
            return "\(count) bytes after the last tensor belong to no tensor"
        case .tensorNotFound(let name):
            return "no tensor named '\(name)'"
        case .wrongDType(let tensor, let dtype, let expected):
            let names = expected.map(\.rawValue).joined(separator: ", ")
            return "tensor '\(tensor)' is \(dtype), not one of \(names)"
        case .reservedName(let name):
            return "'\(name)' cannot name a tensor: the header reserves it for metadata"
        case .writeFailed(let message):
            return "cannot write: \(message)"
        }
    }

    public var description: String { "\(path): \(reasonDescription)" }
}
