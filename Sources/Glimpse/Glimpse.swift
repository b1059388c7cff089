// Glimpse as a Swift library: load a model, caption images. One import brings the types an
// app needs; see Docs/API.md and Examples/CaptionApp.
@_exported import GlimpseCaptioning
@_exported import GlimpseImage
@_exported import GlimpseModel
@_exported import GlimpseTraining

/// Why a model could not be loaded or an image captioned: each case names the file.
public enum CaptioningError: Error, Sendable, CustomStringConvertible {
    /// No model was given and the shipped one was not found; the paths looked at.
    case noDefaultModel(lookedIn: [String])
    case checkpoint(CheckpointError)
    case image(ImageDecodingError)

    public var description: String {
        switch self {
        case .noDefaultModel(let paths):
            return "the default model was not found (looked in \(paths.joined(separator: ", "))); give a model's path"
        case .checkpoint(let error): return error.description
        case .image(let error): return error.description
        }
    }
}

extension Captioner {
    /// The model shipped with Glimpse (or the one `$GLIMPSE_MODEL` names), ready to caption.
    ///
    /// ```swift
    /// let captioner = try Captioner.shipped()
    /// print(try captioner.sentence(forFile: "photo.jpg"))   // "a small white circle on the left"
    /// ```
    public static func shipped() throws(CaptioningError) -> Captioner {
        guard let path = ModelLocator.defaultModelPath() else {
            throw .noDefaultModel(lookedIn: ModelLocator.defaultCandidates())
        }
        return try Captioner(contentsOf: path)
    }

    /// A model checkpoint from `glimpse train` (or `glimpse import`).
    ///
    /// ```swift
    /// let captioner = try Captioner(contentsOf: "run/best.safetensors")
    /// ```
    public init(contentsOf path: String) throws(CaptioningError) {
        do { self.init(checkpoint: try Checkpoint(contentsOf: path)) } catch { throw .checkpoint(error) }
    }

    /// The caption search result for one image file: the best caption first, then up to
    /// `options.nBest`, each with its log-probability (and its attention with `keepsAttention`).
    ///
    /// ```swift
    /// let result = try captioner.caption(file: "photo.jpg", options: DecodingOptions(beamSize: 5, nBest: 3))
    /// for hypothesis in result.hypotheses { print(hypothesis.logProbability, captioner.text(hypothesis)) }
    /// ```
    public func caption(file path: String, options: DecodingOptions = DecodingOptions()) throws(CaptioningError) -> CaptionResult {
        let image: RGBImage
        do { image = try decoder.decode(contentsOf: path).image } catch { throw .image(error) }
        return caption(image: image, options: options)
    }

    /// The caption search result for decoded pixels (any size; resized as the model expects).
    ///
    /// ```swift
    /// let image = RGBImage(width: 64, height: 64, pixels: myPixels)   // interleaved RGB bytes
    /// print(captioner.text(captioner.caption(image: image).best))
    /// ```
    public func caption(image: RGBImage, options: DecodingOptions = DecodingOptions()) -> CaptionResult {
        caption([checkpoint.preprocessing(image)], options: options)[0]
    }

    /// The best caption of one image file, as words joined by spaces.
    public func sentence(forFile path: String, options: DecodingOptions = DecodingOptions()) throws(CaptioningError) -> String {
        text(try caption(file: path, options: options).best)
    }

    /// Captions for many files or folders at once (folders walked in sorted order), decoded on
    /// `threads` workers and captioned `batchSize` at a time; results in order, an unreadable
    /// file with its error.
    ///
    /// ```swift
    /// for item in captioner.caption(paths: ["photos/"]) {
    ///     print(item.path, item.result.map { captioner.text($0.best) } ?? item.error!)
    /// }
    /// ```
    public func caption(paths: [String], options: DecodingOptions = DecodingOptions(), batchSize: Int = 16,
                        threads: Int = 2) -> [Captioned<Void>] {
        var files = ImageFiles(paths)
        var results: [Captioned<Void>] = []
        captionAll(AnyIterator { files.next().map { (path: $0.path, tag: ()) } }, batchSize: batchSize, workers: threads,
                   options: options) { results += $0 }
        return results
    }
}
