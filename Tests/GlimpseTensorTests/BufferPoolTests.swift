import GlimpseTensor
import Testing

@Suite("Recycling large buffers")
struct BufferPoolTests {
    @Test("a released buffer of the same size is handed out again; small ones are not pooled")
    func recycles() {
        let pool = BufferPool()
        let count = BufferPool.minimumPooledCount * 2
        let first = pool.allocate(count: count)
        pool.release(first, count: count)
        #expect(pool.heldBytes == count * 4)
        let second = pool.allocate(count: count)
        #expect(second == first)
        #expect(pool.heldBytes == 0)
        pool.release(second, count: count)

        let small = pool.allocate(count: 10)
        pool.release(small, count: 10)
        #expect(pool.heldBytes == count * 4)
        pool.drain()
        #expect(pool.heldBytes == 0)
    }

    @Test("nearby sizes share a size class, so a buffer released at one serves the other")
    func sizeClasses() {
        let pool = BufferPool()
        // 100 000 and 110 000 floats both round up to 7 · 2^14 = 114 688; 120 000 to 8 · 2^14.
        #expect(BufferPool.capacity(forCount: 100_000) == 114_688)
        let first = pool.allocate(count: 100_000)
        pool.release(first, count: 100_000)
        #expect(pool.heldBytes == 114_688 * 4)
        let other = pool.allocate(count: 120_000)
        #expect(other != first)
        let second = pool.allocate(count: 110_000)
        #expect(second == first)
        pool.release(second, count: 110_000)
        pool.release(other, count: 120_000)
        #expect(pool.heldBytes == (114_688 + 131_072) * 4)
        pool.drain()
    }

    @Test("with nothing idle in its class, a request borrows the smallest larger buffer within the lending ratio")
    func lending() {
        let pool = BufferPool()
        let small = BufferPool.minimumPooledCount * 2
        let large = small * BufferPool.lendingRatio
        let tooLarge = large * 2
        let (a, b) = (pool.allocate(count: large), pool.allocate(count: tooLarge))
        pool.release(a, count: large)
        pool.release(b, count: tooLarge)
        // The larger of the two is beyond the ratio: the request takes `a`, not `b`.
        let borrowed = pool.allocate(count: small)
        #expect(borrowed == a)
        #expect(pool.heldBytes == tooLarge * 4)
        // Given back at the small size, it returns to its own class and serves that size again.
        pool.release(borrowed, count: small)
        #expect(pool.heldBytes == (large + tooLarge) * 4)
        #expect(pool.allocate(count: large) == a)
        // A size that is idle in its own class takes that, not a larger one.
        let own = pool.allocate(count: small)
        pool.release(own, count: small)
        pool.release(a, count: large)
        #expect(pool.allocate(count: small) == own)
        pool.release(own, count: small)
        pool.drain()
        #expect(pool.heldBytes == 0)
    }

    @Test("buffers cut from the huge-page reserve are 64-byte aligned, distinct, kept through drain, and the reserve is finite")
    func hugePageReserve() {
        let reserve = 32 << 20
        let pool = BufferPool(hugePageReserveBytes: reserve)
        let count = 1 << 20  // 4 MiB: four fit in a 16 MiB chunk
        var buffers = (0..<8).map { _ in pool.allocate(count: count) }
        for (index, buffer) in buffers.enumerated() {
            #expect(Int(bitPattern: buffer) % 64 == 0)
            buffer.initialize(repeating: Float(index), count: count)
        }
        for (index, buffer) in buffers.enumerated() {
            #expect(buffer[0] == Float(index) && buffer[count - 1] == Float(index), "buffers overlap")
        }
        // Beyond the reserve, buffers come from the system and drain frees them; chunk pieces stay.
        let beyond = pool.allocate(count: count)
        buffers.append(beyond)
        for buffer in buffers { pool.release(buffer, count: count) }
        #expect(pool.heldBytes == 9 * count * 4)
        pool.drain()
        #expect(pool.heldBytes == 8 * count * 4)
        pool.limitBytes = 0
        #expect(pool.heldBytes == 8 * count * 4)
        let again = (0..<8).map { _ in pool.allocate(count: count) }
        #expect(Set(again) == Set(buffers.dropLast()))
        for buffer in again { pool.release(buffer, count: count) }
    }

    @Test("a size class is at most 25% above the size asked for; powers of two and small sizes are exact",
          arguments: [1, 10, BufferPool.minimumPooledCount - 1, BufferPool.minimumPooledCount,
                      BufferPool.minimumPooledCount + 1, 81_920, 81_921, 100_000, 1 << 20, (1 << 20) + 1, 3_000_017,
                      1 << 24])
    func sizeClassBounds(count: Int) {
        let capacity = BufferPool.capacity(forCount: count)
        #expect(capacity >= count)
        #expect(capacity * 4 <= count * 5, "\(count) floats rounded up to \(capacity)")
        if count < BufferPool.minimumPooledCount || count & (count - 1) == 0 {
            #expect(capacity == count)
        }
        // One class per value: the class of a class is itself.
        #expect(BufferPool.capacity(forCount: capacity) == capacity)
    }

    @Test("the pool keeps no more idle memory than its limit")
    func limit() {
        let pool = BufferPool()
        let count = BufferPool.minimumPooledCount
        pool.limitBytes = count * 4 * 2
        let buffers = (0..<4).map { _ in pool.allocate(count: count) }
        for buffer in buffers { pool.release(buffer, count: count) }
        #expect(pool.heldBytes == count * 4 * 2)
        pool.limitBytes = count * 4
        #expect(pool.heldBytes == count * 4)
    }

    @Test("tensors built from recycled memory hold exactly what they are given")
    func tensorsStayCorrect() {
        let count = BufferPool.minimumPooledCount + 3
        for round in 0..<3 {
            let zeros = Tensor(zeros: [count])
            #expect(zeros.scalars.allSatisfy { $0 == 0 }, "round \(round)")
            var filled = Tensor(shape: [count], repeating: Float(round + 1))
            filled[flat: 0] = -1
            #expect(filled.scalars.dropFirst().allSatisfy { $0 == Float(round + 1) })
        }
    }
}
