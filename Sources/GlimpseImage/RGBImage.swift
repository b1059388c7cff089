/// An 8-bit RGB image: the one image type every decoder produces and every later
/// stage (preprocessing, the model, heat-maps) consumes.
///
/// Pixels are row-major and interleaved: the red, green and blue bytes of pixel
/// (x, y) are at `3 * (y * width + x) + 0, 1, 2`.
public struct RGBImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    /// `width * height * 3` bytes.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0, "an image needs at least one pixel")
        precondition(pixels.count == width * height * 3,
                     "RGBImage(\(width)x\(height)) needs \(width * height * 3) bytes, got \(pixels.count)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A uniformly coloured image.
    public init(width: Int, height: Int, fill: (red: UInt8, green: UInt8, blue: UInt8)) {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for index in stride(from: 0, to: pixels.count, by: 3) {
            pixels[index] = fill.red
            pixels[index + 1] = fill.green
            pixels[index + 2] = fill.blue
        }
        self.init(width: width, height: height, pixels: pixels)
    }

    /// The `width` x `height` rectangle whose top-left pixel is (x, y), inside the image.
    public func cropped(x: Int, y: Int, width: Int, height: Int) -> RGBImage {
        precondition(x >= 0 && y >= 0 && width > 0 && height > 0 && x + width <= self.width && y + height <= self.height,
                     "crop \(width)x\(height) at (\(x), \(y)) is outside the \(self.width)x\(self.height) image")
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for row in 0..<height {
            let from = 3 * ((y + row) * self.width + x)
            pixels.replaceSubrange((3 * row * width)..<(3 * (row + 1) * width), with: self.pixels[from..<(from + 3 * width)])
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// The (red, green, blue) of pixel (x, y).
    public subscript(x: Int, y: Int) -> (red: UInt8, green: UInt8, blue: UInt8) {
        let index = 3 * (y * width + x)
        return (pixels[index], pixels[index + 1], pixels[index + 2])
    }
}
