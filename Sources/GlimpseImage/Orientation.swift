/// The EXIF Orientation tag (0x0112): how the stored pixels must be turned to
/// appear upright. Phones store the sensor's rows as they come and set this tag.
public enum Orientation: Int, Sendable, Equatable, Codable, CaseIterable, CustomStringConvertible {
    case up = 1                  // as stored
    case upMirrored = 2          // mirror left-right
    case down = 3                // rotate 180
    case downMirrored = 4        // mirror top-bottom
    case leftMirrored = 5        // transpose (mirror along the main diagonal)
    case right = 6               // rotate 90 degrees clockwise
    case rightMirrored = 7       // transverse (mirror along the other diagonal)
    case left = 8                // rotate 90 degrees counter-clockwise

    public var description: String {
        switch self {
        case .up: return "1 (normal)"
        case .upMirrored: return "2 (mirrored)"
        case .down: return "3 (rotated 180)"
        case .downMirrored: return "4 (flipped vertically)"
        case .leftMirrored: return "5 (transposed)"
        case .right: return "6 (rotated 90 clockwise)"
        case .rightMirrored: return "7 (transversed)"
        case .left: return "8 (rotated 90 counter-clockwise)"
        }
    }

    /// Whether applying it swaps width and height.
    public var swapsDimensions: Bool { rawValue >= 5 }
}

extension RGBImage {
    /// The image turned upright according to `orientation` (the same result as
    /// Pillow's `ImageOps.exif_transpose`).
    public func applying(_ orientation: Orientation) -> RGBImage {
        if orientation == .up { return self }
        let sourceWidth = width, sourceHeight = height
        let outputWidth = orientation.swapsDimensions ? sourceHeight : sourceWidth
        let outputHeight = orientation.swapsDimensions ? sourceWidth : sourceHeight
        var output = [UInt8](repeating: 0, count: pixels.count)
        pixels.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { destination in
                for outputY in 0..<outputHeight {
                    for outputX in 0..<outputWidth {
                        // The source pixel that lands at (outputX, outputY).
                        let sourceX: Int, sourceY: Int
                        switch orientation {
                        case .up: (sourceX, sourceY) = (outputX, outputY)
                        case .upMirrored: (sourceX, sourceY) = (sourceWidth - 1 - outputX, outputY)
                        case .down: (sourceX, sourceY) = (sourceWidth - 1 - outputX, sourceHeight - 1 - outputY)
                        case .downMirrored: (sourceX, sourceY) = (outputX, sourceHeight - 1 - outputY)
                        case .leftMirrored: (sourceX, sourceY) = (outputY, outputX)
                        case .right: (sourceX, sourceY) = (outputY, sourceHeight - 1 - outputX)
                        case .rightMirrored: (sourceX, sourceY) = (sourceWidth - 1 - outputY, sourceHeight - 1 - outputX)
                        case .left: (sourceX, sourceY) = (sourceWidth - 1 - outputY, outputX)
                        }
                        let from = 3 * (sourceY * sourceWidth + sourceX)
                        let to = 3 * (outputY * outputWidth + outputX)
                        destination[to] = source[from]
                        destination[to + 1] = source[from + 1]
                        destination[to + 2] = source[from + 2]
                    }
                }
            }
        }
        return RGBImage(width: outputWidth, height: outputHeight, pixels: output)
    }
}

/// Finds the EXIF Orientation tag in JPEG APP1 segments or a PNG eXIf chunk.
/// Every read is bounds-checked: damaged metadata gives `nil`, never a crash.
enum ExifReader {
    /// The orientation in the first EXIF block of a JPEG, looking only at the
    /// marker segments before the first scan.
    static func jpegOrientation(_ bytes: UnsafeRawBufferPointer) -> Orientation? {
        guard bytes.count >= 4, bytes[0] == 0xFF, bytes[1] == 0xD8 else { return nil }
        var offset = 2
        while offset + 4 <= bytes.count {
            guard bytes[offset] == 0xFF else { return nil }
            let marker = bytes[offset + 1]
            if marker == 0xFF { offset += 1; continue }           // fill byte
            if marker == 0xD8 || marker == 0x01 || (0xD0...0xD7).contains(marker) { offset += 2; continue }
            if marker == 0xDA || marker == 0xD9 { return nil }      // start of scan / end of image
            let length = Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            guard length >= 2, offset + 2 + length <= bytes.count else { return nil }
            let body = offset + 4, bodyEnd = offset + 2 + length
            if marker == 0xE1, bodyEnd - body >= 6,
               bytes[body] == 0x45, bytes[body + 1] == 0x78, bytes[body + 2] == 0x69, bytes[body + 3] == 0x66,
               bytes[body + 4] == 0, bytes[body + 5] == 0 {
                // Pillow reads the first Exif block only; so do we.
                return tiffOrientation(UnsafeRawBufferPointer(rebasing: bytes[(body + 6)..<bodyEnd]))
            }
            offset = bodyEnd
        }
        return nil
    }

    /// The orientation in a PNG eXIf chunk placed before the image data.
    static func pngOrientation(_ bytes: UnsafeRawBufferPointer) -> Orientation? {
        var offset = 8
        while offset + 8 <= bytes.count {
            let length = Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16
                | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            let type = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(offset + 4)..<(offset + 8)]),
                              as: UTF8.self)
            let body = offset + 8
            guard length >= 0, length <= bytes.count - body else { return nil }
            if type == "IDAT" || type == "IEND" { return nil }
            if type == "eXIf" {
                return tiffOrientation(UnsafeRawBufferPointer(rebasing: bytes[body..<(body + length)]))
            }
            offset = body + length + 4  // data and CRC
        }
        return nil
    }

    /// Reads tag 0x0112 from IFD0 of a TIFF structure.
    static func tiffOrientation(_ tiff: UnsafeRawBufferPointer) -> Orientation? {
        guard tiff.count >= 8 else { return nil }
        let littleEndian: Bool
        if tiff[0] == 0x49 && tiff[1] == 0x49 { littleEndian = true }
        else if tiff[0] == 0x4D && tiff[1] == 0x4D { littleEndian = false }
        else { return nil }
        func u16(_ at: Int) -> Int? {
            guard at >= 0, at + 2 <= tiff.count else { return nil }
            return littleEndian ? Int(tiff[at]) | Int(tiff[at + 1]) << 8 : Int(tiff[at]) << 8 | Int(tiff[at + 1])
        }
        func u32(_ at: Int) -> Int? {
            guard let low = u16(littleEndian ? at : at + 2), let high = u16(littleEndian ? at + 2 : at) else { return nil }
            return high << 16 | low
        }
        guard u16(2) == 42, let ifd = u32(4), let count = u16(ifd) else { return nil }
        for entry in 0..<count {
            let at = ifd + 2 + 12 * entry
            guard let tag = u16(at) else { return nil }
            if tag == 0x0112 {
                guard let type = u16(at + 2), type == 3, let value = u16(at + 8) else { return nil }
                return Orientation(rawValue: value)
            }
        }
        return nil
    }
}
