import Foundation
import GlimpseData
import GlimpseImage
import GlimpseTraining
import Testing

@Suite("Planning and building training batches")
struct TrainingBatchesTests {
    func examples(_ count: Int) -> [TrainingExample] {
        (0..<count).map { index in
            TrainingExample(path: "/nowhere/\(index).png",
                            captions: (0..<(1 + index % 5)).map { caption in
                                Array(repeating: Int32(4 + caption), count: 1 + (index * 7 + caption) % 13)
                            })
        }
    }

    @Test("every example once per epoch, deterministic for (seed, epoch), different across epochs")
    func plan() {
        let items = examples(203)
        let first = EpochPlan.batches(examples: items, imagesPerBatch: 16, seed: 5, epoch: 0)
        #expect(first.flatMap { $0 }.sorted() == Array(0..<203))
        #expect(first.filter { $0.count != 16 }.count == 1)  // one short batch: 203 = 12 * 16 + 11
        #expect(EpochPlan.batches(examples: items, imagesPerBatch: 16, seed: 5, epoch: 0) == first)
        #expect(EpochPlan.batches(examples: items, imagesPerBatch: 16, seed: 5, epoch: 1) != first)
        #expect(EpochPlan.batches(examples: items, imagesPerBatch: 16, seed: 6, epoch: 0) != first)
    }

    @Test("batches group captions of similar length")
    func lengthGrouping() {
        let items = examples(640)
        let plan = EpochPlan.batches(examples: items, imagesPerBatch: 16, seed: 1, epoch: 0, window: 40)
        func mean(_ index: Int) -> Double {
            Double(items[index].captions.reduce(0) { $0 + $1.count }) / Double(items[index].captions.count)
        }
        // Spread of mean lengths inside a batch is far below the spread over the dataset.
        let overall = (items.indices.map(mean).max() ?? 0) - (items.indices.map(mean).min() ?? 0)
        let within = plan.map { batch in (batch.map(mean).max() ?? 0) - (batch.map(mean).min() ?? 0) }
        let average = within.reduce(0, +) / Double(within.count)
        #expect(average < overall / 4, "mean spread in a batch \(average), over the data \(overall)")
    }

    @Test("the prefetcher delivers, in plan order, the batches built from the cache")
    func prefetcher() throws {
        let folder = try Scratch()
        var items: [TrainingExample] = []
        for index in 0..<7 {
            let path = folder.path + "/\(index).png"
            try PNGWriter.write(RGBImage(width: 9, height: 7, fill: (UInt8(index * 30), 100, 200)), to: path)
            items.append(TrainingExample(path: path, captions: [[4, 5], [6]]))
        }
        let cache = try ImageCache(directory: folder.path + "/cache", preprocessing: Preprocessing(imageSize: 4))
        try cache.fill(items.map(\.path))
        let plan = EpochPlan.batches(examples: items, imagesPerBatch: 3, seed: 2, epoch: 0)
        let prefetcher = BatchPrefetcher(examples: items, plan: plan, startIndex: 1, cache: cache)
        var delivered: [TrainingBatch] = []
        while let batch = prefetcher.next() { delivered.append(batch) }
        #expect(delivered.map(\.exampleIndices) == Array(plan.dropFirst()))
        let expected = prefetcher.build(plan[1])
        #expect(delivered[0].batch.images.scalars == expected.batch.images.scalars)
        #expect(delivered[0].batch.images.scalars.count == plan[1].count * 3 * 4 * 4)
        #expect(delivered[0].batch.captions.map(\.imageIndex) == plan[1].indices.flatMap { [$0, $0] })
        // The first pixel of each image is its red channel, normalised.
        let red = Float(plan[1][0] * 30) / 255
        #expect(abs(delivered[0].batch.images.scalars[0] - (red - 0.485) / 0.229) < 1e-5)
    }

    @Test("k captions of n per epoch are taken in turn: over n epochs each caption is used k times; k >= n takes all")
    func captionRotation() {
        let all: [[Int32]] = (0..<5).map { [Int32($0)] }
        for k in 1...4 {
            var uses = [Int](repeating: 0, count: 5)
            for epoch in 0..<5 {
                let chosen = BatchPrefetcher.captions(of: all, perImage: k, epoch: epoch)
                #expect(chosen.count == k && Set(chosen).count == k, "k \(k), epoch \(epoch): \(chosen)")
                for caption in chosen { uses[Int(caption[0])] += 1 }
            }
            #expect(uses == [Int](repeating: k, count: 5), "k \(k): \(uses)")
        }
        #expect(BatchPrefetcher.captions(of: all, perImage: 1, epoch: 0) == [[0]])
        #expect(BatchPrefetcher.captions(of: all, perImage: 1, epoch: 1) == [[1]])
        #expect(BatchPrefetcher.captions(of: all, perImage: 5, epoch: 3) == all)
        #expect(BatchPrefetcher.captions(of: all, perImage: nil, epoch: 3) == all)
        #expect(BatchPrefetcher.captions(of: Array(all.prefix(2)), perImage: 3, epoch: 1) == Array(all.prefix(2)))
    }
}
