/// Values of one tensor with their shape, row-major (the last dimension varies fastest).
public struct ShapedArray<Element> {
    /// Dimensions, outermost first. `[]` is a scalar holding one value.
    public let shape: [Int]
    /// `shape.reduce(1, *)` values.
    public let values: [Element]

    /// `values.count` must equal the product of `shape`, and no dimension may be negative.
    public init(shape: [Int], values: [Element]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            precondition(!overflow, "shape \(shape) holds more values than an Int can count")
            count = product
        }
        precondition(count == values.count, "shape \(shape) holds \(count) values, not \(values.count)")
        self.shape = shape
        self.values = values
    }

    /// For arrays built from a validated header, where the check is already done.
    init(validatedShape shape: [Int], values: [Element]) {
        self.shape = shape
        self.values = values
    }
}

extension ShapedArray: Equatable where Element: Equatable {}
extension ShapedArray: Sendable where Element: Sendable {}
