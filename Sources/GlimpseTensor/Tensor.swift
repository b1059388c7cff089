/// Contiguous float32 storage shared by `Tensor` values until one of them writes.
///
/// A raw allocation rather than `[Float]`: the tensor already does copy-on-write
/// itself (in `Tensor.ensureUnique()`), and a second, hidden copy-on-write layer
/// would only add uniqueness checks to every hot loop.
@usableFromInline
final class TensorStorage: @unchecked Sendable {
    @usableFromInline let base: UnsafeMutablePointer<Float>
    @usableFromInline let count: Int
    /// The arena `base` points into, kept alive by this storage; nil for pooled memory.
    let arena: TensorArena?

    @usableFromInline
    init(uninitializedCount count: Int) {
        self.count = count
        // At least one element, so `base` is always a valid pointer; 64-byte aligned
        // (cache lines, AVX-512 vectors); large buffers are recycled by the pool.
        base = BufferPool.shared.allocate(count: count)
        arena = nil
    }

    /// `count` floats at `base` inside `arena` (which frees them with its last storage).
    init(base: UnsafeMutablePointer<Float>, count: Int, arena: TensorArena) {
        (self.base, self.count, self.arena) = (base, count, arena)
    }

    @usableFromInline
    convenience init(repeating value: Float, count: Int) {
        self.init(uninitializedCount: count)
        base.initialize(repeating: value, count: count)
    }

    @usableFromInline
    func copy() -> TensorStorage {
        let result = TensorStorage(uninitializedCount: count)
        result.base.initialize(from: base, count: count)
        return result
    }

    deinit {
        if arena == nil { BufferPool.shared.release(base, count: count) }
    }
}

/// A float32 tensor: a shape and contiguous row-major scalars.
///
/// A value type. Copies share storage until one of them is written; the copy is
/// made in exactly one place, `ensureUnique()`, which every mutating access goes
/// through. `==` is exact (same shape, bitwise-equal values up to `0 == -0`);
/// approximate comparisons belong in tests (`assertClose`).
public struct Tensor: Sendable {
    /// The extent of each axis, outermost first.
    public private(set) var shape: [Int]
    @usableFromInline var storage: TensorStorage

    /// The number of scalars: the product of `shape` (1 for a scalar of shape `[]`).
    @inlinable public var scalarCount: Int { storage.count }

    /// The number of axes.
    public var rank: Int { shape.count }

    @usableFromInline
    init(shape: [Int], storage: TensorStorage) {
        self.shape = shape
        self.storage = storage
    }

    /// A tensor of `shape` with every scalar equal to `value`.
    public init(shape: [Int], repeating value: Float) {
        self.init(shape: shape, storage: TensorStorage(repeating: value, count: Tensor.count(of: shape)))
    }

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        self.init(shape: shape, repeating: 0)
    }

    /// A tensor holding `scalars` in row-major order.
    public init(shape: [Int], scalars: [Float]) {
        let count = Tensor.count(of: shape)
        precondition(scalars.count == count,
                     "shape \(shape) needs \(count) scalars, got \(scalars.count)")
        let storage = TensorStorage(uninitializedCount: count)
        scalars.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { storage.base.initialize(from: base, count: count) }
        }
        self.init(shape: shape, storage: storage)
    }

    /// A tensor whose scalars are written by `body`. The buffer starts as zeros, so a
    /// body that only adds into it, or forgets some scalars, never exposes garbage.
    /// Inlinable so that the loop inside `body` is specialised in the caller.
    @inlinable
    public init(shape: [Int], initializingWith body: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        self.init(shape: shape, storage: TensorStorage(repeating: 0, count: Tensor.count(of: shape)))
        try body(UnsafeMutableBufferPointer(start: storage.base, count: storage.count))
    }

    /// A tensor whose scalars `body` writes, every one of them: no zero fill first, for
    /// outputs a single pass overwrites entirely (a fill is a whole extra pass over
    /// memory). Use `init(shape:initializingWith:)` when in doubt.
    @inlinable
    public init(overwriting shape: [Int], with body: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        self.init(shape: shape, storage: TensorStorage(uninitializedCount: Tensor.count(of: shape)))
        try body(UnsafeMutableBufferPointer(start: storage.base, count: storage.count))
    }

    /// The number of scalars a tensor of `shape` holds.
    @inlinable
    public static func count(of shape: [Int]) -> Int {
        var count = 1
        for extent in shape {
            precondition(extent >= 0, "negative extent in shape \(shape)")
            count *= extent
        }
        return count
    }

    // MARK: Copy-on-write

    /// Gives this value its own storage if any other value shares it.
    /// The only place a tensor's storage is ever copied.
    @inlinable
    public mutating func ensureUnique() {
        if !isKnownUniquelyReferenced(&storage) {
            storage = storage.copy()
        }
    }

    /// Whether two tensors share storage (a test hook for copy-on-write).
    public func sharesStorage(with other: Tensor) -> Bool {
        storage === other.storage
    }

    // MARK: Scalar access

    /// Calls `body` with the scalars, read-only.
    @inlinable
    public func withUnsafeBufferPointer<Result>(
        _ body: (UnsafeBufferPointer<Float>) throws -> Result
    ) rethrows -> Result {
        try body(UnsafeBufferPointer(start: storage.base, count: storage.count))
    }

    /// Calls `body` with the scalars, writable; makes the storage unique first.
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<Result>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> Result
    ) rethrows -> Result {
        ensureUnique()
        return try body(UnsafeMutableBufferPointer(start: storage.base, count: storage.count))
    }

    /// The scalars in row-major order (a copy).
    public var scalars: [Float] {
        withUnsafeBufferPointer { Array($0) }
    }

    /// The scalar at a flat row-major index.
    @inlinable
    public subscript(flat index: Int) -> Float {
        get {
            precondition(index >= 0 && index < scalarCount, "flat index \(index) out of range 0..<\(scalarCount)")
            return storage.base[index]
        }
        set {
            precondition(index >= 0 && index < scalarCount, "flat index \(index) out of range 0..<\(scalarCount)")
            ensureUnique()
            storage.base[index] = newValue
        }
    }

    /// The scalar at a multi-dimensional index (one index per axis). For tests and
    /// small set-ups; hot loops use `withUnsafeBufferPointer`.
    public subscript(_ indices: Int...) -> Float {
        get { self[flat: flatIndex(indices)] }
        set { self[flat: flatIndex(indices)] = newValue }
    }

    /// The row-major flat index of a multi-dimensional index.
    public func flatIndex(_ indices: [Int]) -> Int {
        precondition(indices.count == shape.count,
                     "\(indices.count) indices for a tensor of rank \(shape.count)")
        var flat = 0
        for (axis, index) in indices.enumerated() {
            precondition(index >= 0 && index < shape[axis],
                         "index \(index) out of range 0..<\(shape[axis]) on axis \(axis) of shape \(shape)")
            flat = flat * shape[axis] + index
        }
        return flat
    }

    // MARK: Shape

    /// The same scalars seen with another shape of equal count; shares storage.
    /// One extent may be -1, inferred from the others.
    public func reshaped(to newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let inferred = newShape.firstIndex(of: -1) {
            var known = 1
            for (axis, extent) in newShape.enumerated() where axis != inferred { known *= extent }
            precondition(known > 0 && scalarCount % known == 0,
                         "cannot reshape \(shape) to \(newShape)")
            resolved[inferred] = scalarCount / known
        }
        precondition(Tensor.count(of: resolved) == scalarCount,
                     "cannot reshape \(shape) (\(scalarCount) scalars) to \(newShape)")
        return Tensor(shape: resolved, storage: storage)
    }

    /// Changes the shape in place, keeping the scalars (see `reshaped(to:)`).
    public mutating func reshape(to newShape: [Int]) {
        self = reshaped(to: newShape)
    }
}

extension Tensor: Equatable {
    /// Exact equality: same shape and the same scalars (`0 == -0`, `nan != nan`).
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        guard lhs.shape == rhs.shape else { return false }
        if lhs.storage === rhs.storage { return !lhs.scalars.contains { $0.isNaN } }
        return lhs.withUnsafeBufferPointer { left in
            rhs.withUnsafeBufferPointer { right in
                for index in 0..<left.count where left[index] != right[index] { return false }
                return true
            }
        }
    }
}

extension Tensor: CustomStringConvertible {
    /// The shape and, for small tensors, the scalars.
    public var description: String {
        let preview = scalarCount <= 16 ? "\(scalars)" : "\(scalars.prefix(8)) ..."
        return "Tensor(shape: \(shape), \(preview))"
    }
}
