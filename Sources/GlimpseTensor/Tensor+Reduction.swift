// Reductions. Totals are accumulated in Double so that a sum over a large
// activation does not lose the small terms (losses and norms depend on them).

extension Tensor {
    /// The sum of all scalars, accumulated in Double.
    public func sum() -> Double {
        withUnsafeBufferPointer { source in
            var total = 0.0
            for value in source { total += Double(value) }
            return total
        }
    }

    /// The sum of squares of all scalars, accumulated in Double.
    public func squaredNorm() -> Double {
        withUnsafeBufferPointer { source in
            var total = 0.0
            for value in source { total += Double(value) * Double(value) }
            return total
        }
    }

    /// Σ self[i] * other[i], accumulated in Double.
    public func dot(_ other: Tensor) -> Double {
        preconditionSameShape(other, "dot")
        return withUnsafeBufferPointer { left in
            other.withUnsafeBufferPointer { right in
                var total = 0.0
                for index in 0..<left.count { total += Double(left[index]) * Double(right[index]) }
                return total
            }
        }
    }

    /// The largest absolute value (0 for an empty tensor).
    public func maxAbsolute() -> Float {
        withUnsafeBufferPointer { source in
            var largest: Float = 0
            for value in source { largest = Swift.max(largest, abs(value)) }
            return largest
        }
    }

    /// Sums over `axis`, removing it: shape [a, n, b] summed over axis 1 gives [a, b].
    public func sum(alongAxis axis: Int) -> Tensor {
        precondition(axis >= 0 && axis < rank, "axis \(axis) out of range for shape \(shape)")
        let outer = shape[..<axis].reduce(1, *)
        let extent = shape[axis]
        let inner = shape[(axis + 1)...].reduce(1, *)
        var resultShape = shape
        resultShape.remove(at: axis)
        return Tensor(shape: resultShape) { target in
            withUnsafeBufferPointer { source in
                for outerIndex in 0..<outer {
                    let targetRow = target.baseAddress! + outerIndex * inner
                    for index in 0..<extent {
                        // Inner loop over contiguous scalars: vectorises.
                        let sourceRow = source.baseAddress! + (outerIndex * extent + index) * inner
                        for innerIndex in 0..<inner { targetRow[innerIndex] += sourceRow[innerIndex] }
                    }
                }
            }
        }
    }

    /// Sums over several axes, removing them.
    public func sum(alongAxes axes: [Int]) -> Tensor {
        var result = self
        // Highest axis first, so the remaining axis numbers stay valid.
        for axis in Set(axes).sorted(by: >) { result = result.sum(alongAxis: axis) }
        return result
    }
}
