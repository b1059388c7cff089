import CGlimpseCodec
import GlimpseSupport

/// Writes baseline JPEG files (4:2:0), atomically.
public enum JPEGWriter {
    /// JPEG bytes for `image` at `quality` (1 to 100).
    public static func encode(_ image: RGBImage, quality: Int = 90) throws(ImageWritingError) -> [UInt8] {
        var output: UnsafeMutablePointer<UInt8>?
        var size = 0
        let call = image.pixels.withUnsafeBufferPointer { input in
            CodecCall.run { message, capacity in
                glimpse_jpeg_encode_rgb(input.baseAddress, UInt32(image.width), UInt32(image.height),
                                        Int32(clamping: quality), &output, &size, message, capacity)
            }
        }
        guard call.status == 0, let output else {
            throw ImageWritingError(path: "<memory>", message: "JPEG encoding failed: \(call.message)")
        }
        defer { glimpse_codec_free(output) }
        return Array(UnsafeBufferPointer(start: output, count: size))
    }

    /// Writes `image` as a JPEG at `path` (temporary file + rename).
    public static func write(_ image: RGBImage, to path: String, quality: Int = 90) throws(ImageWritingError) {
        try ImageWritingError.writing(to: path) { () throws(ImageWritingError) in try encode(image, quality: quality) }
    }
}
