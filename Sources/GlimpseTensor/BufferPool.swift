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
/// Buffers below `minimumPooledCount` go straight to malloc, which handles small
/// sizes well. The pool holds at most `limitBytes` of idle buffers; beyond that,
/// released buffers are freed.
public final class BufferPool: @unchecked Sendable {
    public static let shared = BufferPool()

    /// A separate pool (the tensors use `shared`).
    public init() {}

    /// Scalars: 16 Ki floats = 64 KiB.
    public static let minimumPooledCount = 16 * 1024
    static let alignment = 64

    /// Idle bytes the pool may keep. 4 GiB by default; 0 turns pooling off.
    public var limitBytes: Int {
        get { lock.lock(); defer { lock.unlock() }; return limit }
        set { lock.lock(); limit = max(0, newValue); trim(); lock.unlock() }
    }

    private var idle: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private var idleBytes = 0
    private var limit = 4 << 30
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
        if capacity >= Self.minimumPooledCount {
            lock.lock()
            if var list = idle[capacity], let pointer = list.popLast() {
                idle[capacity] = list
                idleBytes -= capacity * MemoryLayout<Float>.stride
                lock.unlock()
                return pointer
            }
            lock.unlock()
        }
        return UnsafeMutableRawPointer
            .allocate(byteCount: capacity * MemoryLayout<Float>.stride, alignment: Self.alignment)
            .bindMemory(to: Float.self, capacity: capacity)
    }

    /// Gives back memory from `allocate(count:)` with the same `count`.
    public func release(_ pointer: UnsafeMutablePointer<Float>, count: Int) {
        let capacity = Self.capacity(forCount: count)
        let bytes = capacity * MemoryLayout<Float>.stride
        if capacity >= Self.minimumPooledCount {
            lock.lock()
            if idleBytes + bytes <= limit {
                idle[capacity, default: []].append(pointer)
                idleBytes += bytes
                lock.unlock()
                return
            }
            lock.unlock()
        }
        UnsafeMutableRawPointer(pointer).deallocate()
    }

    /// Frees every idle buffer.
    public func drain() {
        lock.lock()
        let saved = limit
        limit = 0
        trim()
        limit = saved
        lock.unlock()
    }

    /// Frees idle buffers until the pool is within its limit. Call with the lock held.
    private func trim() {
        guard idleBytes > limit else { return }
        for (capacity, list) in idle {
            var list = list
            while idleBytes > limit, let pointer = list.popLast() {
                UnsafeMutableRawPointer(pointer).deallocate()
                idleBytes -= capacity * MemoryLayout<Float>.stride
            }
            idle[capacity] = list.isEmpty ? nil : list
            if idleBytes <= limit { break }
        }
    }
}
