/// How a decoded image becomes the model's input. Training and captioning both go
/// through this one type, so the two can never disagree (mismatched preprocessing
/// is the classic cause of "the same caption for every image").
///
/// Steps: resize to `imageSize` x `imageSize` (aspect ratio not kept; antialiased
/// bilinear, see `Resampler`), scale bytes to [0, 1], then per channel
/// `(value - mean) / std`, in that float32 order (as torchvision's `ToTensor` and
/// `Normalize`). The result is planar, channels first: [3, S, S].
public struct Preprocessing: Sendable, Equatable, Codable {
    /// S: the side of the square model input, in pixels.
    public var imageSize: Int
    /// Per-channel (R, G, B) mean and standard deviation of the [0, 1] values.
    public var mean: [Float]
    public var std: [Float]

    /// ImageNet statistics, as used by the default model.
    public static let imageNetMean: [Float] = [0.485, 0.456, 0.406]
    public static let imageNetStd: [Float] = [0.229, 0.224, 0.225]

    /// nil: the whole image squashed to S x S (the small encoder's input). A side R ≥ S:
    /// torchvision's ImageNet recipe, `Resize(R)` then `CenterCrop(S)` (R = 256, S = 224 for
    /// the pretrained ResNets), which keeps the aspect ratio and crops the borders.
    /// Not written when nil, so files made before it are unchanged.
    public var resizeShortSide: Int?

    public init(imageSize: Int = 128, mean: [Float] = imageNetMean, std: [Float] = imageNetStd,
                resizeShortSide: Int? = nil) {
        precondition(imageSize > 0, "imageSize must be positive")
        precondition(mean.count == 3 && std.count == 3, "mean and std need one value per channel")
        precondition(resizeShortSide.map { $0 >= imageSize } ?? true, "the short side must be at least the crop")
        self.imageSize = imageSize
        self.mean = mean
        self.std = std
        self.resizeShortSide = resizeShortSide
    }

    /// The image resized to S x S, still 8-bit: what the training cache stores.
    public func resized(_ image: RGBImage) -> RGBImage {
        guard let shortSide = resizeShortSide else { return Resampler.resize(image, width: imageSize, height: imageSize) }
        let (width, height) = Preprocessing.shortSideSize(width: image.width, height: image.height, shortSide: shortSide)
        let whole = Resampler.resize(image, width: width, height: height)
        let (left, top) = Preprocessing.centerCropOrigin(width: width, height: height, crop: imageSize)
        return whole.cropped(x: left, y: top, width: imageSize, height: imageSize)
    }

    /// torchvision `Resize(R)`'s size: the short side R, the long side ⌊R·long/short⌋.
    static func shortSideSize(width: Int, height: Int, shortSide: Int) -> (width: Int, height: Int) {
        width <= height ? (shortSide, shortSide * height / width) : (shortSide * width / height, shortSide)
    }

    /// torchvision `CenterCrop(S)`'s corner: round((W − S) / 2) with Python's rounding,
    /// half to even (a 1-pixel surplus puts the crop at 0, a 3-pixel one at 2).
    public static func centerCropOrigin(width: Int, height: Int, crop: Int) -> (x: Int, y: Int) {
        func origin(_ surplus: Int) -> Int { Int((Double(surplus) / 2).rounded(.toNearestOrEven)) }
        return (origin(width - crop), origin(height - crop))
    }

    /// Scales and normalises an S x S image into `output` ([3, S, S], planar).
    public func normalize(_ resized: RGBImage, into output: UnsafeMutableBufferPointer<Float>) {
        precondition(resized.width == imageSize && resized.height == imageSize,
                     "normalize expects a \(imageSize)x\(imageSize) image, got \(resized.width)x\(resized.height)")
        resized.pixels.withUnsafeBufferPointer { normalize(resizedPixels: $0, into: output) }
    }

    /// Scales and normalises S x S interleaved RGB bytes (for example from the
    /// training cache) into `output` ([3, S, S], planar).
    public func normalize(resizedPixels pixels: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<Float>) {
        let plane = imageSize * imageSize
        precondition(pixels.count == plane * 3, "expected \(plane * 3) bytes, got \(pixels.count)")
        precondition(output.count == plane * 3, "expected room for \(plane * 3) floats, got \(output.count)")
        for channel in 0..<3 {
            let mean = self.mean[channel], std = self.std[channel]
            let offset = channel * plane
            for index in 0..<plane {
                output[offset + index] = (Float(pixels[3 * index + channel]) / 255 - mean) / std
            }
        }
    }

    /// Resize, scale and normalise: the model input for `image`, [3, S, S].
    public func callAsFunction(_ image: RGBImage) -> [Float] {
        let small = resized(image)
        return [Float](unsafeUninitializedCapacity: 3 * imageSize * imageSize) { output, initialized in
            normalize(small, into: output)
            initialized = 3 * imageSize * imageSize
        }
    }
}
