import CGlimpseCodec
import GlimpseSupport

/// Writes 8-bit RGB or RGBA PNG files, atomically.
public enum PNGWriter {
    /// PNG bytes for RGB (`channels` 3) or RGBA (`channels` 4) interleaved rows.
    public static func encode(pixels: [UInt8], width: Int, height: Int, channels: Int) throws(ImageWritingError) -> [UInt8] {
        precondition(channels == 3 || channels == 4, "PNG output is RGB or RGBA")
        precondition(pixels.count == width * height * channels, "pixel buffer does not match \(width)x\(height)x\(channels)")
        var output: UnsafeMutablePointer<UInt8>?
        var size = 0
        let call = pixels.withUnsafeBufferPointer { input in
            CodecCall.run { message, capacity in
                glimpse_png_encode(input.baseAddress, UInt32(width), UInt32(height), Int32(channels),
                                   &output, &size, message, capacity)
            }
        }
        guard call.status == 0, let output else {
            throw ImageWritingError(path: "<memory>", message: "PNG encoding failed: \(call.message)")
        }
        defer { glimpse_codec_free(output) }
        return Array(UnsafeBufferPointer(start: output, count: size))
    }

    /// Writes `image` as an RGB PNG at `path` (temporary file + rename).
    public static func write(_ image: RGBImage, to path: String) throws(ImageWritingError) {
        try write(pixels: image.pixels, width: image.width, height: image.height, channels: 3, to: path)
    }

    /// Writes RGB or RGBA rows as a PNG at `path` (temporary file + rename).
    public static func write(pixels: [UInt8], width: Int, height: Int, channels: Int, to path: String) throws(ImageWritingError) {
        try ImageWritingError.writing(to: path) { () throws(ImageWritingError) in
            try encode(pixels: pixels, width: width, height: height, channels: channels)
        }
    }
}

/// An image file could not be written; any existing file at `path` is untouched.
public struct ImageWritingError: Error, Equatable, Sendable, CustomStringConvertible {
    public let path: String
    public let message: String
    public var description: String { "\(path): cannot write image: \(message)" }

    /// Encodes with `encode`, then writes the bytes atomically; either failure names `path`.
    static func writing(to path: String, _ encode: () throws(ImageWritingError) -> [UInt8]) throws(ImageWritingError) {
        let bytes: [UInt8]
        do {
            bytes = try encode()
        } catch {
            throw ImageWritingError(path: path, message: error.message)
        }
        do {
            try FileBytes.writeAtomically(bytes, to: path)
        } catch {
            throw ImageWritingError(path: path, message: error.message)
        }
    }
}
