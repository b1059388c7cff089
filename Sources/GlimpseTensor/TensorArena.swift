#if canImport(Glibc)
import Glibc
#endif

/// One allocation holding the scalars of many tensors that live as long as each other (a
/// checkpoint's), on transparent huge pages: loading the default model's 8.5 MB touches a
/// handful of 2 MiB pages instead of 2 100 pages of 4 KiB, each a page fault (about 1.3 µs
/// each in these VMs; see Docs/performance.md).
///
/// Tensors made here are ordinary tensors: copy-on-write as any other (a shared one is copied
/// into pooled memory before a write; a unique one is written in place, in the arena). The
/// arena's memory is freed when the last of its tensors' storages goes.
public final class TensorArena: @unchecked Sendable {
    private let base: UnsafeMutableRawPointer
    private let byteCount: Int
    private var used = 0

    /// Each tensor starts on a 64-byte boundary, as pooled storage does.
    static let alignment = 64

    /// Room for tensors of these scalar counts.
    public init(counts: [Int]) {
        var total = 0
        for count in counts { total += TensorArena.rounded(Swift.max(count, 1) * MemoryLayout<Float>.stride) }
        byteCount = Swift.max(total, TensorArena.alignment)
        base = TensorArena.allocateOnHugePages(byteCount: byteCount)
    }

    /// Memory that lives as long as a model (free it with `deallocate()`): from 2 MiB up,
    /// 2 MiB-aligned and advised for transparent huge pages (advice only), else 64-byte aligned.
    public static func allocateOnHugePages(byteCount: Int) -> UnsafeMutableRawPointer {
        let hugePage = 2 << 20
        let memory = UnsafeMutableRawPointer.allocate(byteCount: byteCount,
                                                      alignment: byteCount >= hugePage ? hugePage : alignment)
        #if os(Linux)
        if byteCount >= hugePage { _ = madvise(memory, (byteCount + hugePage - 1) / hugePage * hugePage, MADV_HUGEPAGE) }
        #endif
        return memory
    }

    private static func rounded(_ bytes: Int) -> Int { (bytes + alignment - 1) / alignment * alignment }

    /// The next tensor of `shape`, its scalars written by `body` (every one of them: the memory
    /// is not cleared first). Tensors beyond the counts given at `init` are a programming error.
    public func tensor(shape: [Int], overwritingWith body: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows
        -> Tensor {
        let count = Tensor.count(of: shape)
        let bytes = TensorArena.rounded(Swift.max(count, 1) * MemoryLayout<Float>.stride)
        precondition(used + bytes <= byteCount, "TensorArena: no room for \(shape) (\(used) of \(byteCount) bytes used)")
        let start = (base + used).bindMemory(to: Float.self, capacity: Swift.max(count, 1))
        used += bytes
        try body(UnsafeMutableBufferPointer(start: start, count: count))
        return Tensor(shape: shape, storage: TensorStorage(base: start, count: count, arena: self))
    }

    deinit { base.deallocate() }
}
