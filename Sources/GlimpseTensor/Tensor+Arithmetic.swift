// Elementwise arithmetic. Each operation is a single pass over contiguous memory;
// the fused forms (`add(_:scaledBy:)`, `addProduct`) exist because large
// elementwise passes are memory-bound, so two passes cost twice one.

extension Tensor {
    @usableFromInline
    func preconditionSameShape(_ other: Tensor, _ operation: StaticString) {
        precondition(shape == other.shape, "\(operation): shapes \(shape) and \(other.shape) differ")
    }

    /// Sets every scalar to `value`, reusing the storage when it is not shared.
    public mutating func fill(with value: Float) {
        if isKnownUniquelyReferenced(&storage) {
            storage.base.update(repeating: value, count: scalarCount)
        } else {
            // Nobody else's scalars need copying: start fresh storage instead.
            storage = TensorStorage(repeating: value, count: scalarCount)
        }
    }

    /// Sets every scalar to zero (the step before gradients accumulate with `+=`).
    public mutating func zero() {
        fill(with: 0)
    }

    /// self += alpha * other.
    public mutating func add(_ other: Tensor, scaledBy alpha: Float) {
        preconditionSameShape(other, "add(_:scaledBy:)")
        let count = scalarCount
        other.withUnsafeBufferPointer { source in
            withUnsafeMutableBufferPointer { target in
                BLAS.saxpy(count: count, alpha: alpha, x: source.baseAddress!, y: target.baseAddress!)
            }
        }
    }

    /// self += a * b, elementwise.
    public mutating func addProduct(_ a: Tensor, _ b: Tensor) {
        preconditionSameShape(a, "addProduct")
        preconditionSameShape(b, "addProduct")
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                withUnsafeMutableBufferPointer { target in
                    for index in 0..<target.count { target[index] += a[index] * b[index] }
                }
            }
        }
    }

    /// self *= factor.
    public mutating func scale(by factor: Float) {
        withUnsafeMutableBufferPointer { target in
            for index in 0..<target.count { target[index] *= factor }
        }
    }

    /// self * factor.
    public func scaled(by factor: Float) -> Tensor {
        var result = self
        result.scale(by: factor)
        return result
    }

    /// Applies `transform` to every scalar in place.
    @inlinable
    public mutating func apply(_ transform: (Float) -> Float) {
        withUnsafeMutableBufferPointer { target in
            for index in 0..<target.count { target[index] = transform(target[index]) }
        }
    }

    /// A tensor of the same shape with `transform` applied to every scalar.
    @inlinable
    public func map(_ transform: (Float) -> Float) -> Tensor {
        Tensor(shape: shape) { target in
            withUnsafeBufferPointer { source in
                for index in 0..<source.count { target[index] = transform(source[index]) }
            }
        }
    }

    /// `combine(self[i], other[i])` for every i; the shapes must match.
    @inlinable
    public func zipMap(_ other: Tensor, _ combine: (Float, Float) -> Float) -> Tensor {
        precondition(shape == other.shape, "zipMap: shapes \(shape) and \(other.shape) differ")
        return Tensor(shape: shape) { target in
            withUnsafeBufferPointer { left in
                other.withUnsafeBufferPointer { right in
                    for index in 0..<left.count { target[index] = combine(left[index], right[index]) }
                }
            }
        }
    }

    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor {
        lhs.preconditionSameShape(rhs, "+")
        return lhs.zipMap(rhs, +)
    }

    public static func - (lhs: Tensor, rhs: Tensor) -> Tensor {
        lhs.preconditionSameShape(rhs, "-")
        return lhs.zipMap(rhs, -)
    }

    /// Elementwise (Hadamard) product.
    public static func * (lhs: Tensor, rhs: Tensor) -> Tensor {
        lhs.preconditionSameShape(rhs, "*")
        return lhs.zipMap(rhs, *)
    }

    public static func * (lhs: Tensor, rhs: Float) -> Tensor { lhs.scaled(by: rhs) }
    public static func * (lhs: Float, rhs: Tensor) -> Tensor { rhs.scaled(by: lhs) }

    public static func += (lhs: inout Tensor, rhs: Tensor) { lhs.add(rhs, scaledBy: 1) }
    public static func -= (lhs: inout Tensor, rhs: Tensor) { lhs.add(rhs, scaledBy: -1) }
    public static func *= (lhs: inout Tensor, rhs: Float) { lhs.scale(by: rhs) }
}
