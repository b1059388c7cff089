import Dispatch
import Foundation
import GlimpseData
import GlimpseImage
import GlimpseModel
import GlimpseSupport
import GlimpseTensor
import GlimpseText

/// One training image: where its pixels are and its captions as word ids.
public struct TrainingExample: Sendable, Equatable {
    public var path: String
    /// Word ids of each caption, without `<start>` and `<end>`.
    public var captions: [[Int32]]

    public init(path: String, captions: [[Int32]]) {
        self.path = path
        self.captions = captions
    }

    /// The examples of `images`, captions tokenised and encoded with `vocabulary`.
    /// Captions longer than `maximumLength` words are cut; empty ones are dropped.
    public static func make(_ images: [DatasetImage], vocabulary: Vocabulary, maximumLength: Int = 50) -> [TrainingExample] {
        images.compactMap { image in
            let captions = image.captions.map { caption in
                Array(vocabulary.encode(CaptionTokenizer.tokenize(caption)).prefix(maximumLength))
            }.filter { !$0.isEmpty }
            return captions.isEmpty ? nil : TrainingExample(path: image.path, captions: captions)
        }
    }
}

/// A minibatch: N images, each with its captions, so the encoder runs once per image;
/// built on the prefetch thread as the model's step takes it.
public struct TrainingBatch: Sendable {
    /// Indices into the epoch's example list.
    public var exampleIndices: [Int]
    /// The normalised images [N, 3, S, S] and their captions (each naming its image).
    public var batch: CaptionBatch

    public var imageCount: Int { exampleIndices.count }
    /// Images in the whole batch this one is a rank's share of (`imageCount` when it is not a share).
    public var globalImageCount: Int
    /// The whole batch's counts, which a share's loss is normalised by; nil when it is not a share.
    public var globalNormalization: LossNormalization?

    public init(exampleIndices: [Int], batch: CaptionBatch, globalImageCount: Int? = nil,
                globalNormalization: LossNormalization? = nil) {
        self.exampleIndices = exampleIndices
        self.batch = batch
        self.globalImageCount = globalImageCount ?? exampleIndices.count
        self.globalNormalization = globalNormalization
    }
}

/// Which part of each batch one rank of a data-parallel run takes: of a batch's n images, rank r
/// of R takes images r, r + R, r + 2R, … (in the plan's order), so the shares are disjoint, cover
/// the batch and differ in size by at most one image. Dealt in turn rather than cut in blocks,
/// because a batch is sorted by caption length (`EpochPlan`): blocks would give the last rank the
/// longest captions, and the others would wait for it at every step.
public struct BatchShare: Sendable, Equatable {
    public var rank: Int
    public var ranks: Int

    public init(rank: Int, ranks: Int) {
        precondition(ranks > 0 && (0..<ranks).contains(rank), "rank \(rank) of \(ranks)")
        self.rank = rank
        self.ranks = ranks
    }

    /// This rank's positions among `count` images.
    public func positions(of count: Int) -> [Int] {
        Array(stride(from: rank, to: count, by: ranks))
    }
}

/// The order of an epoch: which examples form each batch.
///
/// Deterministic for (seed, epoch). Examples are shuffled, then, within windows of
/// `window` batches, sorted by their captions' mean length so that a batch holds
/// captions of similar length, and the batches are shuffled again. The whole plan
/// is a function of its inputs, so a run that resumes at (epoch, batch) sees exactly
/// the batches an uninterrupted run would have.
public enum EpochPlan {
    public static func batches(examples: [TrainingExample], imagesPerBatch: Int, seed: UInt64, epoch: Int,
                               window: Int = 20) -> [[Int]] {
        precondition(imagesPerBatch > 0, "imagesPerBatch must be positive")
        var state = SplitMix64(seed: seed ^ (UInt64(truncatingIfNeeded: epoch) &* 0x9E37_79B9_7F4A_7C15))
        var order = Array(examples.indices)
        state.shuffle(&order)
        let meanLength = examples.map { example in
            Double(example.captions.reduce(0) { $0 + $1.count }) / Double(max(1, example.captions.count))
        }
        let windowSize = imagesPerBatch * window
        var sorted: [Int] = []
        sorted.reserveCapacity(order.count)
        for start in stride(from: 0, to: order.count, by: windowSize) {
            let slice = order[start..<min(order.count, start + windowSize)]
            sorted += slice.sorted { meanLength[$0] != meanLength[$1] ? meanLength[$0] < meanLength[$1] : $0 < $1 }
        }
        var batches = stride(from: 0, to: sorted.count, by: imagesPerBatch).map {
            Array(sorted[$0..<min(sorted.count, $0 + imagesPerBatch)])
        }
        state.shuffle(&batches)
        return batches
    }
}

/// Builds batches on a background thread while the caller trains on the previous
/// one. Inputs come from the cache (`TrainingInputs`, filled beforehand), so building a
/// batch is a copy and a normalisation, never a decode.
///
/// The background work holds the prefetcher until the plan is done: call `cancel()`
/// when abandoning it early (an interrupted epoch).
public final class BatchPrefetcher: @unchecked Sendable {
    private let examples: [TrainingExample]
    private let plan: [[Int]]
    private let inputs: TrainingInputs
    private let captionsPerImage: Int?
    private let epoch: Int
    private let share: BatchShare?
    private let queue = DispatchQueue(label: "glimpse.batch-prefetch")
    private let ready: DispatchSemaphore
    private let room: DispatchSemaphore
    private var buffer: [Int: TrainingBatch] = [:]
    private let lock = NSLock()
    private var cancelled = false
    private var nextToConsume: Int

    /// Starts preparing `plan[startIndex...]`, at most `depth` batches ahead.
    /// `captionsPerImage` k limits captions per image to k, taken in turn by `epoch`
    /// (`BatchPrefetcher.captions`); nil for all. With a `share`, each batch is this rank's share
    /// of the plan's batch (`BatchShare`), carrying the whole batch's counts.
    public init(examples: [TrainingExample], plan: [[Int]], startIndex: Int = 0, inputs: TrainingInputs,
                captionsPerImage: Int? = nil, epoch: Int = 0, share: BatchShare? = nil, depth: Int = 2) {
        self.examples = examples
        self.share = share
        self.plan = plan
        self.inputs = inputs
        self.captionsPerImage = captionsPerImage
        self.epoch = epoch
        self.nextToConsume = startIndex
        ready = DispatchSemaphore(value: 0)
        // Created at 0 and signalled up to `depth`: libdispatch traps when a semaphore is
        // released holding less than its initial value, which a cancelled prefetcher does.
        room = DispatchSemaphore(value: 0)
        for _ in 0..<max(1, depth) { room.signal() }
        queue.async { [self] in produce(from: startIndex) }
    }

    /// The next batch in plan order, or nil when the plan is done. A batch whose
    /// image is missing from the cache leaves that image out.
    public func next() -> TrainingBatch? {
        guard nextToConsume < plan.count else { return nil }
        ready.wait()
        lock.lock()
        let batch = buffer.removeValue(forKey: nextToConsume)
        lock.unlock()
        nextToConsume += 1
        room.signal()
        return batch
    }

    /// Stops the background work (idempotent).
    public func cancel() {
        lock.lock()
        cancelled = true
        lock.unlock()
        room.signal()
    }

    private func produce(from start: Int) {
        for index in start..<plan.count {
            room.wait()
            lock.lock()
            let stop = cancelled
            lock.unlock()
            if stop { return }
            let batch = build(plan[index], batchIndex: index)
            lock.lock()
            buffer[index] = batch
            lock.unlock()
            ready.signal()
        }
    }

    /// The captions of an image used in `epoch`: all of them, or k of n taken in turn, epoch e
    /// starting at caption e·k (mod n), so that every caption is used as often as the others.
    public static func captions(of all: [[Int32]], perImage k: Int?, epoch: Int) -> [[Int32]] {
        guard let k, k < all.count else { return all }
        let start = (epoch % all.count) * k % all.count
        return (0..<k).map { all[(start + $0) % all.count] }
    }

    /// As above, reading the image cache's pixels.
    public convenience init(examples: [TrainingExample], plan: [[Int]], startIndex: Int = 0, cache: ImageCache,
                            captionsPerImage: Int? = nil, epoch: Int = 0, depth: Int = 2) {
        self.init(examples: examples, plan: plan, startIndex: startIndex, inputs: .pixels(cache),
                  captionsPerImage: captionsPerImage, epoch: epoch, depth: depth)
    }

    /// Gathers one batch (normalised pixels or cached features) with its captions; augmented
    /// pixels are cropped and flipped as the batch's place in the run (`epoch`, `batchIndex`) draws.
    public func build(_ indices: [Int], batchIndex: Int = 0) -> TrainingBatch {
        var kept = indices.filter { inputs.holds(examples[$0].path) }
        let globalImageCount = kept.count
        var globalNormalization: LossNormalization? = nil, positions: [Int]? = nil
        if let share {
            let all = kept.flatMap { Self.captions(of: examples[$0].captions, perImage: captionsPerImage, epoch: epoch) }
            if !all.isEmpty {
                globalNormalization = LossNormalization(tokenCount: all.reduce(0) { $0 + $1.count + 1 }, captionCount: all.count,
                                                        imageCount: kept.count)
            }
            positions = share.positions(of: kept.count)
            kept = positions!.map { kept[$0] }
        }
        var captions: [CaptionBatch.Caption] = []
        for (slot, index) in kept.enumerated() {
            for caption in Self.captions(of: examples[index].captions, perImage: captionsPerImage, epoch: epoch) {
                captions.append(CaptionBatch.Caption(imageIndex: slot, tokens: caption))
            }
        }
        var seed: UInt64? = nil
        if case .augmentedPixels(_, let augmentation) = inputs { seed = augmentation.batchSeed(epoch: epoch, batchIndex: batchIndex) }
        return TrainingBatch(exampleIndices: kept, batch: inputs.batch(kept.map { examples[$0].path }, captions: captions,
                                                                       augmentationSeed: seed, positions: positions),
                             globalImageCount: globalImageCount, globalNormalization: globalNormalization)
    }
}
