import Foundation

/// Errors from Foundation and the JSON decoder in words a user can act on, instead of
/// their debug dumps ("keyNotFound(CodingKeys(stringValue: …), Swift.DecodingError.Context(…))").
public enum ErrorText {
    public static func describe(_ error: any Error) -> String {
        if let error = error as? DecodingError { return describe(error) }
        if error is CocoaError || type(of: error) == NSError.self { return (error as NSError).localizedDescription }
        return "\(error)"
    }

    static func describe(_ error: DecodingError) -> String {
        func place(_ context: DecodingError.Context) -> String {
            let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return path.isEmpty ? "" : " at " + path.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .dataCorrupted(let context):
            let underlying = context.underlyingError.map { " (\((($0 as NSError).userInfo[NSDebugDescriptionErrorKey] as? String) ?? "\($0)"))" } ?? ""
            return "invalid content\(place(context)): \(context.debugDescription)\(underlying)"
        case .keyNotFound(let key, let context):
            return "missing field \"\(key.stringValue)\"\(place(context))"
        case .typeMismatch(let type, let context):
            return "a value of the wrong type\(place(context)) (expected \(type))"
        case .valueNotFound(let type, let context):
            return "a missing value\(place(context)) (expected \(type))"
        @unknown default:
            return "\(error)"
        }
    }
}
