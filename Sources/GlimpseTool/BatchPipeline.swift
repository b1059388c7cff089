import Foundation
import GlimpseImage

/// The image files under a folder, found lazily in sorted order (`DirectoryWalk`: one
/// folder's listing per level of depth, each folder entered once, loops and dangling links
/// reported), the files that are not images by their bytes counted and left out.
struct LazyImageWalk: IteratorProtocol {
    private var walk: DirectoryWalk
    /// The folder walked; relative paths are relative to it.
    var root: String { walk.root }
    /// Files that are not images (by their bytes).
    private(set) var skippedNonImages = 0
    /// Paths the walk could not or would not follow (unlistable folders, loops, dangling
    /// links), with the reason.
    var unreadableFolders: [(path: String, reason: String)] { walk.problems.map { ($0.path, $0.reason) } }
    /// When false, every file is returned without reading its first bytes (for counting quickly).
    let sniffs: Bool

    init(root: String, sniffs: Bool = true) {
        walk = DirectoryWalk(root: root)
        self.sniffs = sniffs
    }

    /// (full path, path relative to the root)
    mutating func next() -> (path: String, relative: String)? {
        while let entry = walk.next() {
            if !sniffs || ImageFileWalker.looksLikeImage(entry.path) { return (entry.path, entry.relative) }
            skippedNonImages += 1
        }
        return nil
    }
}

/// `--shard i/n`: file k of n by a hash of its path relative to the folder, so the split
/// is the same on every machine and every run, whatever the order files are found in.
struct Shard: Equatable {
    let index: Int
    let count: Int

    static let whole = Shard(index: 0, count: 1)

    /// "i/n" with 0 ≤ i < n.
    init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1,
              (0..<count).contains(index) else { return nil }
        self.init(index: index, count: count)
    }

    init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    func contains(relativePath: String) -> Bool {
        count == 1 || Int(Self.hash(relativePath) % UInt64(count)) == index
    }

    /// 64-bit FNV-1a of the name's bytes (`FileName`): fixed by definition, unlike Swift's seeded `Hasher`.
    static func hash(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in FileName.bytes(text) {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash
    }
}

/// Decodes and preprocesses images on worker threads while the model captions the
/// previous batch on the calling thread. Bounded: workers stop taking files while
/// `capacity` prepared images wait to be consumed, and results come out in the order
/// files were taken, so output order does not depend on thread timing.
final class PreparationPipeline: @unchecked Sendable {
    struct Item {
        var path: String
        var relative: String
        var prepared: Captioner.Prepared
    }

    private let condition = NSCondition()
    // Everything below is guarded by `condition`.
    private var source: AnyIterator<(path: String, relative: String)>
    private var handedOut = 0
    private var consumed = 0
    private var exhausted = false
    private var ready: [Int: Item] = [:]
    private let capacity: Int
    private var threads: [Thread] = []

    init(source: AnyIterator<(path: String, relative: String)>, capacity: Int, workers: Int,
         prepare: @escaping @Sendable (String) -> Captioner.Prepared) {
        self.source = source
        self.capacity = max(1, capacity)
        for _ in 0..<max(1, workers) {
            // Strong: a worker blocked on a full queue must never outlive the object it waits on
            // (the command may stop early on a write error and drop its reference).
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
            // The source (directory walk, shard and resume filters) is used by one thread at a time.
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
            ready[index] = Item(path: next.path, relative: next.relative, prepared: prepared)
            condition.broadcast()
            condition.unlock()
        }
    }

    /// The next prepared image in order, or nil when every file has been consumed.
    func next() -> Item? {
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
