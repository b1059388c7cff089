import GlimpseTensor
import Testing

/// The largest differences between two tensors of the same shape.
public struct TensorDifference: CustomStringConvertible, Sendable {
    public var maxAbsolute: Double
    /// max |a − e| / |e| over elements with e ≠ 0.
    public var maxRelative: Double
    /// Flat index of the element that broke the tolerance by the most (or of the largest absolute difference).
    public var worstIndex: Int
    public var actualAtWorst: Float
    public var expectedAtWorst: Float

    public var description: String {
        "max |Δ| \(maxAbsolute), max relative \(maxRelative); worst at flat index \(worstIndex): "
            + "actual \(actualAtWorst), expected \(expectedAtWorst)"
    }
}

/// Measures how far `actual` is from `expected`; their shapes must match.
public func difference(_ actual: Tensor, _ expected: Tensor,
                       absoluteTolerance: Double = 0, relativeTolerance: Double = 0) -> TensorDifference {
    precondition(actual.shape == expected.shape, "difference: shapes \(actual.shape) and \(expected.shape) differ")
    var result = TensorDifference(maxAbsolute: 0, maxRelative: 0, worstIndex: 0, actualAtWorst: 0, expectedAtWorst: 0)
    var worstExcess = -Double.infinity
    actual.withUnsafeBufferPointer { actual in
        expected.withUnsafeBufferPointer { expected in
            for index in 0..<actual.count {
                let a = Double(actual[index]), e = Double(expected[index])
                let absolute = a.isNaN || e.isNaN ? Double.infinity : abs(a - e)
                result.maxAbsolute = max(result.maxAbsolute, absolute)
                if e != 0 { result.maxRelative = max(result.maxRelative, absolute / abs(e)) }
                // How far past its allowance this element is: the worst one is reported.
                let excess = absolute - (absoluteTolerance + relativeTolerance * abs(e))
                if excess > worstExcess {
                    worstExcess = excess
                    result.worstIndex = index
                    result.actualAtWorst = actual[index]
                    result.expectedAtWorst = expected[index]
                }
            }
        }
    }
    return result
}

/// Why two tensors are not close (shape first, then values), or nil when they are:
/// every element satisfies |actual − expected| ≤ absoluteTolerance + relativeTolerance · |expected|.
public func closenessFailure(_ actual: Tensor, _ expected: Tensor,
                             absoluteTolerance: Double = 1e-6, relativeTolerance: Double = 1e-5,
                             name: String = "tensor") -> String? {
    guard actual.shape == expected.shape else {
        return "\(name): shape \(actual.shape), expected \(expected.shape)"
    }
    let measured = difference(actual, expected, absoluteTolerance: absoluteTolerance,
                              relativeTolerance: relativeTolerance)
    let worstAllowed = absoluteTolerance + relativeTolerance * abs(Double(measured.expectedAtWorst))
    let worstDifference = abs(Double(measured.actualAtWorst) - Double(measured.expectedAtWorst))
    if worstDifference.isNaN || worstDifference > worstAllowed || measured.maxAbsolute.isInfinite {
        return "\(name) \(actual.shape) differs beyond abs \(absoluteTolerance) + rel \(relativeTolerance): \(measured)"
    }
    return nil
}

/// Checks that two tensors have the same shape and that every element satisfies
/// |actual − expected| ≤ absoluteTolerance + relativeTolerance · |expected|.
/// A failure names the tensor and gives the largest absolute and relative differences.
@discardableResult
public func assertClose(_ actual: Tensor, _ expected: Tensor,
                        absoluteTolerance: Double = 1e-6, relativeTolerance: Double = 1e-5,
                        name: String = "tensor",
                        sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
    if let failure = closenessFailure(actual, expected, absoluteTolerance: absoluteTolerance,
                                      relativeTolerance: relativeTolerance, name: name) {
        Issue.record(Comment(rawValue: failure), sourceLocation: sourceLocation)
        return false
    }
    return true
}
