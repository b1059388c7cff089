import Dispatch
import Foundation
import GlimpseData
import GlimpseImage
import GlimpseModel
import GlimpseSupport
import GlimpseTensor

/// What a pretrained encoder's frozen part makes of every training image, computed once and
/// memory-mapped, so that an epoch never runs it: a `SlotCache` whose slots are one image's
/// `CaptioningModel.cachedInputs(of:)` as float32. For a frozen encoder that is its features
/// [P, D], and an epoch costs the decoder only; when the last stages train
/// (`trainableFromStage`), it is their input [C, h, h].
///
/// The cache's name holds everything the slots depend on besides the image: the
/// architecture, the frozen weights' digest, the grid or the stage, the preprocessing (size,
/// crop, mean and std) and the position features, so another encoder or input never reads them.
/// The image itself is keyed by its path, byte size and modification time (`SlotCache`).
public final class FeatureCache: @unchecked Sendable {
    public let model: CaptioningModel
    public let preprocessing: Preprocessing
    public let slots: SlotCache
    /// One image's slot: [P, D], or [C, h, h].
    public let inputShape: [Int]

    /// Images encoded per forward pass while filling.
    public static let encodeBatch = 16

    /// Opens (or starts) the features of `model`'s pretrained encoder in `directory`.
    public init(directory: String, model: CaptioningModel, preprocessing: Preprocessing) throws(ImageCacheError) {
        guard let encoder = model.configuration.pretrainedEncoder else {
            preconditionFailure("a feature cache is for models with a pretrained encoder")
        }
        self.model = model
        self.preprocessing = preprocessing
        let configuration = model.configuration
        inputShape = model.cachedInputShape
        slots = try SlotCache(directory: directory, name: Self.name(encoder, configuration: configuration, preprocessing: preprocessing),
                              slotBytes: 4 * inputShape.reduce(1, *), recordName: "features")
    }

    /// `features-resnet50-g7-224-DIGEST-PREP`, or `layer4input-resnet50-224-DIGEST-PREP` when
    /// stage 4 trains: PREP is 8 hex digits of FNV-1a over the preprocessing and the position flag.
    static func name(_ encoder: ModelConfiguration.PretrainedEncoder, configuration: ModelConfiguration,
                     preprocessing: Preprocessing) -> String {
        let key = "\(preprocessing.imageSize) \(preprocessing.resizeShortSide ?? 0) \(preprocessing.mean) \(preprocessing.std) "
            + "\(configuration.positionFeatures)"
        let hex = String(FNV1a.hash(Array(key.utf8)) >> 32, radix: 16)
        let what = encoder.trainableFromStage.map { "layer\($0)input-\(encoder.architecture.rawValue)" }
            ?? "features-\(encoder.architecture.rawValue)-g\(encoder.gridSize)"
        return "\(what)-\(preprocessing.imageSize)-\(encoder.digest)-" + String(repeating: "0", count: 8 - hex.count) + hex
    }

    /// Decodes, preprocesses (on `threads` threads) and encodes every file in `paths` the
    /// cache does not hold yet. `progress(done, total)` is called from the calling thread.
    @discardableResult
    public func fill(_ paths: [String], decoder: ImageDecoder = ImageDecoder(), threads: Int = 2,
                     progress: ((Int, Int) -> Void)? = nil) throws(ImageCacheError) -> SlotCache.FillReport {
        try slots.fill(paths, chunkSize: 4 * Self.encodeBatch, make: { chunk in self.make(chunk, decoder: decoder, threads: threads) },
                       progress: progress)
    }

    /// The features of `paths`: decode and preprocess in parallel, then the encoder in batches.
    private func make(_ paths: [String], decoder: ImageDecoder, threads: Int) -> [Result<[UInt8], SlotCache.MakingFailure>] {
        let size = preprocessing.imageSize, plane = 3 * size * size
        let inputs = ResultBox<Result<[Float], SlotCache.MakingFailure>>(count: paths.count)
        let preprocessing = preprocessing
        DispatchQueue.concurrentPerform(iterations: threads) { worker in
            for index in stride(from: worker, to: paths.count, by: threads) {
                do throws(ImageDecodingError) {
                    inputs.set(index, .success(preprocessing(try decoder.decode(contentsOf: paths[index]).image)))
                } catch {
                    inputs.set(index, .failure(SlotCache.MakingFailure(error.reasonDescription)))
                }
            }
        }
        let prepared = inputs.all
        var results = prepared.map { $0.map { _ in [UInt8]() } }
        let decoded = prepared.enumerated().compactMap { index, result in (try? result.get()).map { (index, $0) } }
        let slotFloats = inputShape.reduce(1, *)
        for start in stride(from: 0, to: decoded.count, by: Self.encodeBatch) {
            let group = decoded[start..<min(decoded.count, start + Self.encodeBatch)]
            var pixels = [Float]()
            pixels.reserveCapacity(group.count * plane)
            for (_, input) in group { pixels += input }
            let features = model.cachedInputs(of: Tensor(shape: [group.count, 3, size, size], scalars: pixels))
            features.withUnsafeBufferPointer { values in
                for (offset, (index, _)) in group.enumerated() {
                    let record = UnsafeBufferPointer(rebasing: values[(offset * slotFloats)..<((offset + 1) * slotFloats)])
                    results[index] = .success(Array(UnsafeRawBufferPointer(record)))
                }
            }
        }
        return results
    }

    /// The slot [P, D] or [C, h, h] of `path`, if the cache holds it for the file as it is now on disk.
    /// The buffer stays valid until the next `fill`.
    public func features(for path: String) -> UnsafeBufferPointer<Float>? {
        slots.slot(for: path).map { $0.bindMemory(to: Float.self) }
    }

    public func contains(_ path: String) -> Bool { slots.contains(path) }
}
