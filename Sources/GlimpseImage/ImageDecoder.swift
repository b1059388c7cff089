import CGlimpseCodec
import GlimpseSupport

/// Limits and choices for decoding.
public struct ImageDecodingOptions: Sendable, Equatable {
    /// Images with more pixels than this are refused from their header, before any
    /// large allocation. 100 megapixels by default.
    public var maxPixels: Int = 100_000_000
    /// Files larger than this are not read at all. 1 GiB by default.
    public var maxFileBytes: Int = 1 << 30
    /// Progressive JPEGs with more scans than this are refused (a guard against
    /// files crafted to take minutes to decode).
    public var maxJPEGScans: Int = 500
    /// Transparent pixels are composited over this colour. White by default.
    public var background: (red: UInt8, green: UInt8, blue: UInt8) = (255, 255, 255)
    /// Turn JPEG (and PNG eXIf) images upright according to their EXIF Orientation.
    public var appliesOrientation: Bool = true

    public init() {}

    public static func == (left: Self, right: Self) -> Bool {
        left.maxPixels == right.maxPixels && left.maxFileBytes == right.maxFileBytes
            && left.maxJPEGScans == right.maxJPEGScans && left.background == right.background
            && left.appliesOrientation == right.appliesOrientation
    }
}

/// What a file's header says, as `glimpse info` reports it.
public struct ImageInfo: Sendable, Equatable {
    public var format: ImageFormat
    /// Width and height as displayed, after the orientation is applied.
    public var width: Int
    public var height: Int
    /// Colour channels stored in the file (1 gray, 2 gray+alpha, 3, 4).
    public var channels: Int
    /// Bits per sample stored in the file (JPEG: 8; PNG: 1, 2, 4, 8 or 16).
    public var bitDepth: Int
    /// How the file's colour is stored, e.g. "YCbCr 4:2:0", "palette", "CMYK (Adobe)".
    public var colorModel: String
    public var hasAlpha: Bool
    /// The EXIF orientation, `.up` when there is none.
    public var orientation: Orientation
    /// Progressive JPEG or Adam7-interlaced PNG.
    public var isProgressive: Bool
}

/// A decoded image with what its header said.
public struct DecodedImage: Sendable, Equatable {
    public var image: RGBImage
    public var info: ImageInfo
}

/// Reads JPEG and PNG files into `RGBImage`, detecting the format from the bytes.
///
/// Every failure is an `ImageDecodingError` naming the file and the cause; no input
/// crashes, aborts or hangs the process.
public struct ImageDecoder: Sendable {
    public var options: ImageDecodingOptions

    public init(options: ImageDecodingOptions = ImageDecodingOptions()) {
        self.options = options
    }

    /// Decodes the file at `path`.
    public func decode(contentsOf path: String) throws(ImageDecodingError) -> DecodedImage {
        try decode(Self.read(path, limit: options.maxFileBytes), path: path)
    }

    /// Reads only the header of the file at `path` (the pixel data is not checked).
    public func info(contentsOf path: String) throws(ImageDecodingError) -> ImageInfo {
        try info(Self.read(path, limit: options.maxFileBytes), path: path)
    }

    /// `FileBytes.read`, its failures as decoding errors.
    static func read(_ path: String, limit: Int) throws(ImageDecodingError) -> [UInt8] {
        do { return try FileBytes.read(path, limit: limit) } catch {
            switch error.reason {
            case .unreadable(let message): throw ImageDecodingError(path: path, reason: .unreadable(message))
            case .tooLarge(let bytes, let limit): throw ImageDecodingError(path: path, reason: .fileTooLarge(bytes: bytes, limit: limit))
            }
        }
    }

    /// Decodes in-memory file contents; `path` labels any error.
    public func decode(_ bytes: [UInt8], path: String = "<memory>") throws(ImageDecodingError) -> DecodedImage {
        let format = try Self.supportedFormat(of: bytes, path: path)
        return try bytes.withBytes { (buffer) throws(ImageDecodingError) -> DecodedImage in
            switch format {
            case .jpeg: return try decodeJPEG(buffer, path: path)
            case .png: return try decodePNG(buffer, path: path)
            }
        }
    }

    /// Reads the header of in-memory file contents.
    public func info(_ bytes: [UInt8], path: String = "<memory>") throws(ImageDecodingError) -> ImageInfo {
        let format = try Self.supportedFormat(of: bytes, path: path)
        return try bytes.withBytes { (buffer) throws(ImageDecodingError) -> ImageInfo in
            switch format {
            case .jpeg:
                var header = glimpse_jpeg_header()
                try Self.check(CodecCall.run { message, capacity in
                    glimpse_jpeg_read_header(buffer.baseAddress, buffer.count, &header, message, capacity)
                }, format: .jpeg, path: path)
                return jpegInfo(header, buffer)
            case .png:
                var header = glimpse_png_header()
                try Self.check(CodecCall.run { message, capacity in
                    glimpse_png_read_header(buffer.baseAddress, buffer.count, &header, message, capacity)
                }, format: .png, path: path)
                return pngInfo(header, buffer)
            }
        }
    }

    // MARK: - JPEG

    private func decodeJPEG(_ buffer: UnsafeRawBufferPointer, path: String) throws(ImageDecodingError) -> DecodedImage {
        var header = glimpse_jpeg_header()
        try Self.check(CodecCall.run { message, capacity in
            glimpse_jpeg_read_header(buffer.baseAddress, buffer.count, &header, message, capacity)
        }, format: .jpeg, path: path)
        try checkPixelCount(width: Int(header.width), height: Int(header.height), format: .jpeg, path: path)

        let pixels = try Self.decodeBytes(Int(header.width) * Int(header.height) * 3, format: .jpeg, path: path) {
            output, message, capacity in
            glimpse_jpeg_decode_rgb(buffer.baseAddress, buffer.count, UInt64(options.maxPixels),
                                    Int32(clamping: options.maxJPEGScans),
                                    output.baseAddress, output.count, &header, message, capacity)
        }
        return finish(RGBImage(width: Int(header.width), height: Int(header.height), pixels: pixels),
                      info: jpegInfo(header, buffer))
    }

    private func jpegInfo(_ header: glimpse_jpeg_header, _ buffer: UnsafeRawBufferPointer) -> ImageInfo {
        let orientation = ExifReader.jpegOrientation(buffer) ?? .up
        var model: String
        switch Int(header.color) {
        case Int(GLIMPSE_JPEG_GRAY.rawValue): model = "grayscale"
        case Int(GLIMPSE_JPEG_YCBCR.rawValue): model = "YCbCr"
        case Int(GLIMPSE_JPEG_RGB.rawValue): model = "RGB"
        case Int(GLIMPSE_JPEG_CMYK.rawValue): model = "CMYK"
        case Int(GLIMPSE_JPEG_YCCK.rawValue): model = "YCCK"
        default: model = "unknown colour space"
        }
        if header.components >= 3, header.chroma_h_sampling > 0, header.chroma_v_sampling > 0 {
            model += " " + Self.subsamplingName(
                horizontal: Int(header.luma_h_sampling) / Int(header.chroma_h_sampling),
                vertical: Int(header.luma_v_sampling) / Int(header.chroma_v_sampling),
                exact: header.luma_h_sampling % header.chroma_h_sampling == 0
                    && header.luma_v_sampling % header.chroma_v_sampling == 0)
        }
        if header.adobe_marker != 0 && header.components == 4 { model += ", Adobe" }
        if header.arithmetic != 0 { model += ", arithmetic-coded" }
        if header.restart_interval > 0 { model += ", restart interval \(header.restart_interval)" }
        let width = Int(header.width), height = Int(header.height)
        return ImageInfo(format: .jpeg,
                         width: orientation.swapsDimensions ? height : width,
                         height: orientation.swapsDimensions ? width : height,
                         channels: Int(header.components), bitDepth: Int(header.bits_per_sample),
                         colorModel: model, hasAlpha: false, orientation: orientation,
                         isProgressive: header.progressive != 0)
    }

    private static func subsamplingName(horizontal: Int, vertical: Int, exact: Bool) -> String {
        guard exact else { return "(unusual subsampling)" }
        switch (horizontal, vertical) {
        case (1, 1): return "4:4:4"
        case (2, 1): return "4:2:2"
        case (2, 2): return "4:2:0"
        case (1, 2): return "4:4:0"
        case (4, 1): return "4:1:1"
        default: return "\(horizontal)x\(vertical) subsampling"
        }
    }

    // MARK: - PNG

    private func decodePNG(_ buffer: UnsafeRawBufferPointer, path: String) throws(ImageDecodingError) -> DecodedImage {
        var header = glimpse_png_header()
        try Self.check(CodecCall.run { message, capacity in
            glimpse_png_read_header(buffer.baseAddress, buffer.count, &header, message, capacity)
        }, format: .png, path: path)
        try checkPixelCount(width: Int(header.width), height: Int(header.height), format: .png, path: path)

        let channels = Int(header.output_channels)
        let decoded = try Self.decodeBytes(Int(header.width) * Int(header.height) * channels, format: .png, path: path) {
            output, message, capacity in
            glimpse_png_decode(buffer.baseAddress, buffer.count, UInt64(options.maxPixels),
                               output.baseAddress, output.count, &header, message, capacity)
        }
        let rgb = channels == 4 ? Self.composite(rgba: decoded, over: options.background) : decoded
        return finish(RGBImage(width: Int(header.width), height: Int(header.height), pixels: rgb),
                      info: pngInfo(header, buffer))
    }

    private func pngInfo(_ header: glimpse_png_header, _ buffer: UnsafeRawBufferPointer) -> ImageInfo {
        let orientation = ExifReader.pngOrientation(buffer) ?? .up
        let channels: Int, model: String
        switch header.color_type {
        case 0: (channels, model) = (1, "grayscale")
        case 2: (channels, model) = (3, "RGB")
        case 3: (channels, model) = (1, "palette")
        case 4: (channels, model) = (2, "grayscale+alpha")
        default: (channels, model) = (4, "RGBA")
        }
        let width = Int(header.width), height = Int(header.height)
        return ImageInfo(format: .png,
                         width: orientation.swapsDimensions ? height : width,
                         height: orientation.swapsDimensions ? width : height,
                         channels: channels, bitDepth: Int(header.bit_depth),
                         colorModel: header.has_transparency != 0 ? model + " with tRNS transparency" : model,
                         hasAlpha: header.output_channels == 4, orientation: orientation,
                         isProgressive: header.interlaced != 0)
    }

    /// Alpha compositing over an opaque background, per channel and in 8-bit
    /// integers: `out = (value * alpha + background * (255 - alpha) + 127) / 255`.
    static func composite(rgba: [UInt8], over background: (red: UInt8, green: UInt8, blue: UInt8)) -> [UInt8] {
        let pixelCount = rgba.count / 4
        let backgroundChannels = [Int(background.red), Int(background.green), Int(background.blue)]
        return [UInt8](unsafeUninitializedCapacity: pixelCount * 3) { output, initialized in
            rgba.withUnsafeBufferPointer { input in
                for pixel in 0..<pixelCount {
                    let alpha = Int(input[4 * pixel + 3])
                    for channel in 0..<3 {
                        let value = Int(input[4 * pixel + channel])
                        output[3 * pixel + channel] =
                            UInt8((value * alpha + backgroundChannels[channel] * (255 - alpha) + 127) / 255)
                    }
                }
            }
            initialized = pixelCount * 3
        }
    }

    // MARK: - Shared steps

    /// Runs a C decode into a fresh buffer of `byteCount` bytes.
    private static func decodeBytes(
        _ byteCount: Int, format: ImageFormat, path: String,
        _ decode: (UnsafeMutableBufferPointer<UInt8>, UnsafeMutablePointer<CChar>, Int) -> Int32
    ) throws(ImageDecodingError) -> [UInt8] {
        var call = CodecCall(status: 0, message: "")
        let bytes = [UInt8](unsafeUninitializedCapacity: byteCount) { output, initialized in
            call = CodecCall.run { message, capacity in decode(output, message, capacity) }
            // On failure the bytes are never read; count them as initialised either way.
            if call.status != 0 { output.initialize(repeating: 0) }
            initialized = byteCount
        }
        try check(call, format: format, path: path)
        return bytes
    }

    private func finish(_ image: RGBImage, info: ImageInfo) -> DecodedImage {
        DecodedImage(image: options.appliesOrientation ? image.applying(info.orientation) : image, info: info)
    }

    private func checkPixelCount(width: Int, height: Int, format: ImageFormat, path: String) throws(ImageDecodingError) {
        if width * height > options.maxPixels {
            throw ImageDecodingError(path: path, reason: .tooLarge(width: width, height: height, limit: options.maxPixels))
        }
        if width <= 0 || height <= 0 {
            throw ImageDecodingError(path: path, reason: .corrupt(format: format, message: "image has no pixels"))
        }
    }

    static func supportedFormat(of bytes: [UInt8], path: String) throws(ImageDecodingError) -> ImageFormat {
        switch SniffedFormat.sniff(bytes) {
        case .supported(let format): return format
        case .empty: throw ImageDecodingError(path: path, reason: .emptyFile)
        case .unsupported(let name), .unsupportedImage(let name):
            throw ImageDecodingError(path: path, reason: .unsupportedFormat(detected: name))
        case .unknown: throw ImageDecodingError(path: path, reason: .unsupportedFormat(detected: nil))
        }
    }

    private static func check(_ call: CodecCall, format: ImageFormat, path: String) throws(ImageDecodingError) {
        let message = call.message
        switch call.status {
        case Int32(GLIMPSE_CODEC_OK.rawValue): return
        case Int32(GLIMPSE_CODEC_TRUNCATED.rawValue):
            throw ImageDecodingError(path: path, reason: .truncated(format: format, message: message))
        case Int32(GLIMPSE_CODEC_UNSUPPORTED.rawValue):
            throw ImageDecodingError(path: path, reason: .unsupportedFeature(format: format, message: message))
        default:
            throw ImageDecodingError(path: path, reason: .corrupt(format: format, message: message))
        }
    }
}

/// A C codec call's status and the library's message.
struct CodecCall {
    var status: Int32
    var message: String

    static func run(_ body: (UnsafeMutablePointer<CChar>, Int) -> Int32) -> CodecCall {
        let capacity = Int(GLIMPSE_CODEC_MESSAGE_CAPACITY)
        var buffer = [CChar](repeating: 0, count: capacity)
        let status = buffer.withUnsafeMutableBufferPointer { body($0.baseAddress!, capacity) }
        let message = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return CodecCall(status: status, message: message)
    }
}
