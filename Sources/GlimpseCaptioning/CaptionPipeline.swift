import Foundation
import GlimpseImage
import GlimpseModel
import GlimpseSupport

/// Decodes and preprocesses images on worker threads while the model captions the previous
/// batch on the calling thread. Bounded: workers stop taking files while `capacity` prepared
/// images wait to be consumed, and results come out in the order files were taken, so output
/// order never depends on thread timing. Each file carries a `Tag` of the caller's (its
/// relative path, its dataset entry) through to the result.
public final class PreparationPipeline<Tag: Sendable>: @unchecked Sendable {
    public struct Item: Sendable {
        public var path: String
        public var tag: Tag
        public var prepared: Captioner.Prepared
    }

    private let condition = NSCondition()
    // Everything below is guarded by `condition`.
    private var source: AnyIterator<(path: String, tag: Tag)>
    private var handedOut = 0
    private var consumed = 0
    private var exhausted = false
    private var ready: [Int: Item] = [:]
    private let capacity: Int
    private var threads: [Thread] = []

    /// - Parameters:
    ///   - source: the files, called by one worker at a time.
    ///   - capacity: prepared images that may wait to be consumed.
    ///   - workers: decoding threads.
    public init(source: AnyIterator<(path: String, tag: Tag)>, capacity: Int, workers: Int,
                prepare: @escaping @Sendable (String) -> Captioner.Prepared) {
        self.source = source
        self.capacity = max(1, capacity)
        for _ in 0..<max(1, workers) {
            // Strong: a worker blocked on a full queue must never outlive the object it waits on
            // (the caller may stop early on a write error and drop its reference).
            let thread = Thread { self.work(prepare) }
            thread.stackSize = 4 << 20
            threads.append(thread)
        }
        threads.forEach { $0.start() }
    }

    private func work(_ prepare: (String) -> Captioner.Prepared) {
        while true {
            condition.lock()
            while handedOut - consumed >= capacity { condition.wait() }
            // The source (a folder walk, shard and resume filters) is used by one thread at a time.
            guard !exhausted, let next = source.next() else {
                exhausted = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let index = handedOut
            handedOut += 1
            condition.unlock()

            let prepared = prepare(next.path)

            condition.lock()
            ready[index] = Item(path: next.path, tag: next.tag, prepared: prepared)
            condition.broadcast()
            condition.unlock()
        }
    }

    /// The next prepared image in order, or nil when every file has been consumed.
    public func next() -> Item? {
        condition.lock()
        defer { condition.unlock() }
        while ready[consumed] == nil {
            if exhausted && consumed == handedOut { return nil }
            condition.wait()
        }
        let item = ready.removeValue(forKey: consumed)
        consumed += 1
        condition.broadcast()
        return item
    }
}

extension Captioner {
    /// One image's outcome: its caption search result, or why it could not be read.
    public struct Captioned<Tag: Sendable>: Sendable {
        public var path: String
        public var tag: Tag
        /// With `keepImage`: the image at an attention sheet's panel size.
        public var image: RGBImage?
        public var result: CaptionResult?
        public var error: String?
    }

    /// The one captioning loop: files from `source` are decoded on `workers` threads (a queue
    /// of 2 × `batchSize` prepared images, handed back in order), captioned `batchSize` files
    /// at a time, and given to `body` a batch at a time, in the order of `source`. Unreadable
    /// files come back with their error, in their place.
    public func captionAll<Tag: Sendable>(
        _ source: AnyIterator<(path: String, tag: Tag)>, batchSize: Int, workers: Int, options: DecodingOptions,
        keepImage: Bool = false, _ body: ([Captioned<Tag>]) throws -> Void
    ) rethrows {
        let captioner = self
        let pipeline = PreparationPipeline(source: source, capacity: 2 * max(1, batchSize), workers: workers,
                                           prepare: { captioner.prepare($0, keepImage: keepImage) })
        while true {
            var batch: [PreparationPipeline<Tag>.Item] = []
            while batch.count < max(1, batchSize), let item = pipeline.next() { batch.append(item) }
            if batch.isEmpty { return }
            let results = caption(batch.compactMap(\.prepared.input), options: options)
            var next = results.makeIterator()
            try body(batch.map { item in
                let result = item.prepared.input == nil ? nil : next.next()
                return Captioned(path: item.path, tag: item.tag, image: item.prepared.image,
                                 result: result, error: result == nil ? (item.prepared.error ?? "unreadable") : nil)
            })
        }
    }
}
