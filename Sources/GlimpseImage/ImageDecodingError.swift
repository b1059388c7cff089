import GlimpseSupport
/// Why an image could not be read. Every case names the file (or the label the
/// caller gave in-memory data) and, where a library said something, its words.
public struct ImageDecodingError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        /// The file could not be read at all (missing, a directory, no permission).
        case unreadable(String)
        /// Zero bytes.
        case emptyFile
        /// Not JPEG or PNG. `detected` names what it looks like, when recognisable.
        case unsupportedFormat(detected: String?)
        /// A JPEG or PNG using something this build cannot decode (e.g. 12-bit JPEG).
        case unsupportedFeature(format: ImageFormat, message: String)
        /// width x height is above the pixel cap; checked from the header, before
        /// any large allocation.
        case tooLarge(width: Int, height: Int, limit: Int)
        /// The file is larger than the byte cap, so it was not read.
        case fileTooLarge(bytes: Int, limit: Int)
        /// The data ends before the image does.
        case truncated(format: ImageFormat, message: String)
        /// The library rejected the data.
        case corrupt(format: ImageFormat, message: String)
    }

    /// The file path, or the label given for in-memory data.
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
        case .emptyFile:
            return "unsupported format: empty file"
        case .unsupportedFormat(let detected):
            if let detected { return "unsupported format: \(detected) (Glimpse reads JPEG and PNG)" }
            return "unsupported format: not a JPEG or PNG image"
        case .unsupportedFeature(let format, let message):
            return "unsupported \(format) feature: \(message)"
        case .tooLarge(let width, let height, let limit):
            return "image too large: \(width) x \(height) = \(width * height) pixels, above the limit of \(limit)"
        case .fileTooLarge(let bytes, let limit):
            return "file too large: \(bytes) bytes, above the limit of \(limit)"
        case .truncated(let format, let message):
            return "truncated \(format) file: \(message)"
        case .corrupt(let format, let message):
            return "corrupt \(format) file: \(message)"
        }
    }

    public var description: String { "\(path): \(reasonDescription)" }
}
