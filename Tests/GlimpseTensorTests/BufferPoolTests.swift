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
