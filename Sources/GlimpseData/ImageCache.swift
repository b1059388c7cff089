import Dispatch
import Foundation
import GlimpseImage

/// Decoded, resized training images on disk, so that later epochs never decode again:
/// a `SlotCache` named `pixels-S` (or `pixels-S-crop-R` for `Preprocessing.resizeShortSide`
/// R) whose slots are S·S·3 bytes, interleaved RGB, rows of S pixels.
public final class ImageCache: @unchecked Sendable {
    public let preprocessing: Preprocessing
    /// The slots, the index, the lock and the mapping.
    public let slots: SlotCache

    public typealias FillReport = SlotCache.FillReport
    public typealias Failure = SlotCache.Failure

    public var directory: String { slots.directory }
    public var imageSize: Int { preprocessing.imageSize }
    public var slotBytes: Int { slots.slotBytes }
    public var pixelsPath: String { slots.dataPath }
    public var indexPath: String { slots.indexPath }

    /// Opens (or starts) the cache in `directory` for images resized by `preprocessing`.
    public init(directory: String, preprocessing: Preprocessing) throws(ImageCacheError) {
        self.preprocessing = preprocessing
        let size = preprocessing.imageSize
        let name = "pixels-\(size)" + (preprocessing.resizeShortSide.map { "-crop-\($0)" } ?? "")
        slots = try SlotCache(directory: directory, name: name, slotBytes: size * size * 3, recordName: "images")
    }

    /// Decodes and resizes every file in `paths` that the cache does not hold yet,
    /// on `threads` threads. `progress(done, total)` is called from the calling thread.
    @discardableResult
    public func fill(_ paths: [String], decoder: ImageDecoder = ImageDecoder(), threads: Int = 2,
                     progress: ((Int, Int) -> Void)? = nil) throws(ImageCacheError) -> FillReport {
        let preprocessing = preprocessing
        return try slots.fill(paths, chunkSize: max(64, threads * 32), make: { chunk in
            let results = ResultBox<Result<[UInt8], SlotCache.MakingFailure>>(count: chunk.count)
            DispatchQueue.concurrentPerform(iterations: threads) { worker in
                for index in stride(from: worker, to: chunk.count, by: threads) {
                    do throws(ImageDecodingError) {
                        let image = try decoder.decode(contentsOf: chunk[index]).image
                        results.set(index, .success(preprocessing.resized(image).pixels))
                    } catch {
                        results.set(index, .failure(SlotCache.MakingFailure(error.reasonDescription)))
                    }
                }
            }
            return results.all
        }, progress: progress)
    }

    /// The S·S·3 resized pixels of `path`, if the cache holds them for the file as it
    /// is now on disk. The buffer stays valid until the next `fill`.
    public func pixels(for path: String) -> UnsafeBufferPointer<UInt8>? {
        slots.slot(for: path).map { $0.bindMemory(to: UInt8.self) }
    }

    /// Whether the cache holds a decoded image for `path` as it is on disk now.
    public func contains(_ path: String) -> Bool { slots.contains(path) }

    /// Stands in for `pwrite` in tests (see `SlotCache.writeFault`).
    var writeFault: ((_ slot: Int) -> Int32?)? {
        get { slots.writeFault }
        set { slots.writeFault = newValue }
    }
}

/// Results written by worker threads, each to its own index (a cache maker's workers).
public final class ResultBox<Value>: @unchecked Sendable {
    private var results: [Value?]
    private let lock = NSLock()
    public init(count: Int) { results = Array(repeating: nil, count: count) }
    public func set(_ index: Int, _ value: Value) { lock.lock(); results[index] = value; lock.unlock() }
    /// Every result, once each index has been set.
    public var all: [Value] { lock.lock(); defer { lock.unlock() }; return results.map { $0! } }
}
