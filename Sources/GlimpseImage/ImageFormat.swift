import GlimpseSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The formats Glimpse decodes. The format is always detected from the bytes,
/// never from the file name.
public enum ImageFormat: String, Sendable, Equatable, Codable, CustomStringConvertible {
    case jpeg = "JPEG"
    case png = "PNG"

    public var description: String { rawValue }
}

/// What the first bytes of a file say it is.
public enum SniffedFormat: Equatable, Sendable {
    case supported(ImageFormat)
    /// A recognisable file that Glimpse does not decode; the payload names it.
    case unsupported(String)
    /// Recognised as an image of another format (GIF, WebP, ...): worth reporting
    /// when walking a folder, unlike a text file.
    case unsupportedImage(String)
    case empty
    case unknown

    /// Whether a folder walk should treat the file as an image (supported or not).
    public var looksLikeImage: Bool {
        switch self {
        case .supported, .unsupportedImage: return true
        case .unsupported, .empty, .unknown: return false
        }
    }

    /// What the first bytes of the file at `path` say it is; nil when it cannot be opened.
    public static func sniff(fileAt path: String) -> SniffedFormat? {
        // Only a regular file is sniffed: O_NONBLOCK keeps a FIFO without a writer from
        // holding the open, and the decoder later says what the file is instead.
        let descriptor = FileName.withSystemPath(path) { open($0, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY) }
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { return nil }
        var head = [UInt8](repeating: 0, count: 64)
        let count = head.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, 64) }
        guard count >= 0 else { return nil }
        return sniff(head.prefix(count))
    }

    public static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Identifies a file from its leading bytes (64 are plenty).
    public static func sniff<C: Collection>(_ bytes: C) -> SniffedFormat where C.Element == UInt8 {
        let head = Array(bytes.prefix(64))
        if head.isEmpty { return .empty }
        func starts(_ signature: [UInt8], at offset: Int = 0) -> Bool {
            head.count >= offset + signature.count && Array(head[offset..<offset + signature.count]) == signature
        }
        func ascii(_ text: String, at offset: Int = 0) -> Bool { starts(Array(text.utf8), at: offset) }

        // A JPEG starts with SOI (FF D8); even a two-byte prefix is a (truncated) JPEG.
        if starts([0xFF, 0xD8]) { return .supported(.jpeg) }
        // A short prefix of the PNG signature is a truncated PNG, not a mystery.
        if head.count < pngSignature.count, Array(pngSignature.prefix(head.count)) == head, head.count >= 4 {
            return .supported(.png)
        }
        if starts(pngSignature) { return .supported(.png) }
        if ascii("GIF87a") || ascii("GIF89a") { return .unsupportedImage("GIF image") }
        if ascii("RIFF") && ascii("WEBP", at: 8) { return .unsupportedImage("WebP image") }
        if ascii("ftyp", at: 4) {
            let brand = head.count >= 12 ? String(decoding: head[8..<12], as: UTF8.self) : ""
            switch brand {
            case "heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1":
                return .unsupportedImage("HEIC/HEIF image")
            case "avif", "avis":
                return .unsupportedImage("AVIF image")
            case "crx ":
                return .unsupportedImage("Canon CR3 raw image")
            default:
                return .unsupported("MP4/QuickTime media file")
            }
        }
        if ascii("BM") && head.count >= 14 { return .unsupportedImage("BMP image") }
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) {
            return .unsupportedImage("TIFF image")
        }
        if starts([0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20]) || starts([0xFF, 0x4F, 0xFF, 0x51]) {
            return .unsupportedImage("JPEG 2000 image")
        }
        if starts([0xFF, 0x0A]) || starts([0x00, 0x00, 0x00, 0x0C, 0x4A, 0x58, 0x4C, 0x20]) {
            return .unsupportedImage("JPEG XL image")
        }
        if ascii("8BPS") { return .unsupportedImage("Photoshop PSD image") }
        if starts([0x00, 0x00, 0x01, 0x00]) && head.count >= 6 { return .unsupportedImage("Windows ICO icon") }
        if ascii("qoif") { return .unsupportedImage("QOI image") }
        if head.count >= 2, head[0] == 0x50, (0x31...0x36).contains(head[1]) {
            return .unsupportedImage("Netpbm (PBM/PGM/PPM) image")
        }
        if ascii("%PDF") { return .unsupported("PDF document") }
        if starts([0x50, 0x4B, 0x03, 0x04]) { return .unsupported("ZIP archive") }
        if starts([0x1F, 0x8B]) { return .unsupported("gzip archive") }
        if ascii("<svg") || ascii("<?xml") { return .unsupported("XML/SVG text") }
        if looksLikeText(head) { return .unsupported("text file") }
        return .unknown
    }

    private static func looksLikeText(_ bytes: [UInt8]) -> Bool {
        // Printable ASCII, common whitespace, or UTF-8 multi-byte sequences.
        if bytes.contains(0) { return false }
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x09 || byte == 0x0A || byte == 0x0D || (0x20...0x7E).contains(byte) {
                index += 1
                continue
            }
            let length: Int
            switch byte {
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            case 0xF0...0xF4: length = 4
            default: return false
            }
            // A sequence cut at the end of the sniffed window still counts as text.
            for next in 1..<length where index + next < bytes.count {
                if bytes[index + next] & 0xC0 != 0x80 { return false }
            }
            index += length
        }
        return true
    }
}
