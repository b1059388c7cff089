/// The element types a safetensors header may name, spelled as in the file.
///
/// Every type of the reference implementation with a whole-byte size is known, so
/// that a checkpoint holding, say, an `I32` buffer can still be opened and listed;
/// only `F32`, `F16`, `BF16` and `I64` can be decoded into values.
public enum SafeTensorsDType: String, Sendable, CaseIterable, CustomStringConvertible {
    case bool = "BOOL"
    case uint8 = "U8"
    case int8 = "I8"
    case float8E5M2 = "F8_E5M2"
    case float8E4M3 = "F8_E4M3"
    case int16 = "I16"
    case uint16 = "U16"
    case float16 = "F16"
    case bfloat16 = "BF16"
    case int32 = "I32"
    case uint32 = "U32"
    case float32 = "F32"
    case float64 = "F64"
    case int64 = "I64"
    case uint64 = "U64"

    /// Bytes per element.
    public var byteCount: Int {
        switch self {
        case .bool, .uint8, .int8, .float8E5M2, .float8E4M3: return 1
        case .int16, .uint16, .float16, .bfloat16: return 2
        case .int32, .uint32, .float32: return 4
        case .float64, .int64, .uint64: return 8
        }
    }

    /// The name used in the header, e.g. `F32`.
    public var description: String { rawValue }

    /// The types `SafeTensorsFile.floats(named:)` decodes without being asked to convert.
    public static let floatingPoint: [SafeTensorsDType] = [.float32, .float16, .bfloat16]
}
