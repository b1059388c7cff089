import Foundation

/// Recycles large float buffers by size class.
///
/// A training step allocates the same activation and gradient buffers, of the same
/// sizes, every step. Fresh allocations of that size come from the kernel as new
/// pages, and first-touch page faults cost a third of the CPU time in this kind of
/// VM (see ENVIRONMENT-NOTES). Returning freed buffers here and handing them out
/// again gives the effect of a per-batch-shape arena without threading one through
/// every layer: after the first step, a steady shape allocates nothing new.
///
/// Sizes are rounded up to a class, four per doubling (2^k times 1, 1.25, 1.5 or 1.75),
/// so that a buffer freed at one size serves the sizes near it too: in a training step the
/// decoder's active batch shrinks step by step, and with exact sizes each batch size kept
/// idle buffers of its own (at batch 32 x 5 captions, 50 MB more at the step's peak). A
/// buffer is at most 25% larger than asked for; powers of two (the encoder's activations)
/// fit exactly.
///
/// When no buffer of its class is idle, a request takes the smallest idle buffer of a larger
/// class, up to `lendingRatio` times its own (it goes back to its own class on release). The
/// encoder's layers shrink stage by stage, so an image's later layers run in the memory its
/// first ones freed: the first encode of a process (`glimpse caption one.jpg`) faults 22% fewer
/// pages, and training at 32 x 5 captions peaks 4% lower (Docs/performance.md).
///
/// The first `hugePageReserveBytes` of new buffers are cut from 16 MiB chunks on transparent
/// huge pages: one page fault per 2 MiB instead of 512, which is most of what a process's first
/// image costs. Those buffers stay in the pool for the process's life (the limit and `drain`
/// free only the others).
///
/// Buffers below `minimumPooledCount` go straight to malloc, which handles small
/// sizes well. The pool holds at most `limitBytes` of idle buffers; beyond that,
/// released buffers are freed.
public final class BufferPool: @unchecked Sendable {
    public static let shared = BufferPool(hugePageReserveBytes: 64 << 20)

    /// A separate pool (the tensors use `shared`), with `hugePageReserveBytes` of huge-page chunks.
    public init(hugePageReserveBytes: Int = 0) {
        reserve = max(0, hugePageReserveBytes)
    }

    /// Scalars: 16 Ki floats = 64 KiB.
    public static let minimumPooledCount = 16 * 1024
    /// A request may take an idle buffer up to this many times its class.
    public static let lendingRatio = 4
    static let alignment = 64
    static let chunkBytes = 16 << 20

    /// Idle bytes the pool may keep. 4 GiB by default; 0 turns pooling off.
    public var limitBytes: Int {
        get { lock.lock(); defer { lock.unlock() }; return limit }
        set { lock.lock(); limit = max(0, newValue); trim(); lock.unlock() }
    }

    private var idle: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private var idleBytes = 0
    private var limit = 4 << 30
    /// Buffers handed out for a smaller class than their own: pointer → their own capacity.
    private var lent: [UnsafeMutablePointer<Float>: Int] = [:]
    /// Huge-page chunks: what may still be cut, the chunk being cut, and every chunk's range.
    private var reserve: Int
    private var chunk: (next: UnsafeMutableRawPointer, end: UnsafeMutableRawPointer)?
    private var chunks: [Range<UInt>] = []
    private let lock = NSLock()

    /// Idle bytes held right now (for tests and diagnostics).
    public var heldBytes: Int { lock.lock(); defer { lock.unlock() }; return idleBytes }

    /// The floats actually allocated for `count`: its size class (`count` rounded up to
    /// its three leading bits) from `minimumPooledCount` up, else `count` (at least one).
    public static func capacity(forCount count: Int) -> Int {
        let count = Swift.max(count, 1)
        guard count >= minimumPooledCount else { return count }
        let shift = Int.bitWidth - count.leadingZeroBitCount - 3
        return ((count + (1 << shift) - 1) >> shift) << shift
    }

    /// Uninitialised memory for `count` floats (at least one), 64-byte aligned.
    public func allocate(count: Int) -> UnsafeMutablePointer<Float> {
        let capacity = Self.capacity(forCount: count)
        guard capacity >= Self.minimumPooledCount else { return Self.systemAllocate(capacity) }
        lock.lock()
        defer { lock.unlock() }
        if var list = idle[capacity], let pointer = list.popLast() {
            idle[capacity] = list
            idleBytes -= capacity * MemoryLayout<Float>.stride
            return pointer
        }
        var larger: Int?
        for (candidate, list) in idle
        where candidate > capacity && candidate <= capacity * Self.lendingRatio && !list.isEmpty {
            if larger.map({ candidate < $0 }) ?? true { larger = candidate }
        }
        if let larger, let pointer = idle[larger]!.popLast() {
            idleBytes -= larger * MemoryLayout<Float>.stride
            lent[pointer] = larger
            return pointer
        }
        return cutFromChunk(capacity) ?? Self.systemAllocate(capacity)
    }

    /// Gives back memory from `allocate(count:)` with the same `count`.
    public func release(_ pointer: UnsafeMutablePointer<Float>, count: Int) {
        var capacity = Self.capacity(forCount: count)
        guard capacity >= Self.minimumPooledCount else { return UnsafeMutableRawPointer(pointer).deallocate() }
        lock.lock()
        defer { lock.unlock() }
        if let own = lent.removeValue(forKey: pointer) { capacity = own }
        let bytes = capacity * MemoryLayout<Float>.stride
        if idleBytes + bytes <= limit || isInChunk(pointer) {
            idle[capacity, default: []].append(pointer)
            idleBytes += bytes
        } else {
            UnsafeMutableRawPointer(pointer).deallocate()
        }
    }

    /// Frees every idle buffer (those cut from huge-page chunks stay): for an app that keeps a
    /// model loaded between bursts of work and wants the idle memory back meanwhile.
    public func drain() {
        lock.lock()
        let saved = limit
        limit = 0
        trim()
        limit = saved
        lock.unlock()
    }

    /// Frees idle buffers (not chunk pieces) until the pool is within its limit. Call with the lock held.
    private func trim() {
        guard idleBytes > limit else { return }
        for (capacity, list) in idle {
            var kept: [UnsafeMutablePointer<Float>] = []
            for pointer in list {
                if idleBytes > limit && !isInChunk(pointer) {
                    UnsafeMutableRawPointer(pointer).deallocate()
                    idleBytes -= capacity * MemoryLayout<Float>.stride
                } else {
                    kept.append(pointer)
                }
            }
            idle[capacity] = kept.isEmpty ? nil : kept
        }
    }

    /// `capacity` floats from the current huge-page chunk (a new chunk when it has no room),
    /// while the reserve lasts. Call with the lock held.
    private func cutFromChunk(_ capacity: Int) -> UnsafeMutablePointer<Float>? {
        let bytes = capacity * MemoryLayout<Float>.stride
        if chunk.map({ $0.end - $0.next < bytes }) ?? true {
            let hugePage = 2 << 20
            let size = Swift.max(Self.chunkBytes, (bytes + hugePage - 1) / hugePage * hugePage)
            guard size <= reserve else { return nil }
            reserve -= size
            let base = TensorArena.allocateOnHugePages(byteCount: size)
            chunk = (base, base + size)
            chunks.append(UInt(bitPattern: base)..<UInt(bitPattern: base + size))
        }
        let pointer = chunk!.next
        chunk!.next += (bytes + Self.alignment - 1) / Self.alignment * Self.alignment
        return pointer.bindMemory(to: Float.self, capacity: capacity)
    }

    private func isInChunk(_ pointer: UnsafeMutablePointer<Float>) -> Bool {
        let address = UInt(bitPattern: pointer)
        return chunks.contains { $0.contains(address) }
    }

    private static func systemAllocate(_ capacity: Int) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer
            .allocate(byteCount: capacity * MemoryLayout<Float>.stride, alignment: alignment)
            .bindMemory(to: Float.self, capacity: capacity)
    }
}
