// Matrix operations: products through `cblas_sgemm` and row slicing.
// Rank-2 tensors are matrices [rows, columns]; reshape first to view others as one.

extension Tensor {
    /// op(a) · op(b), where op transposes when asked: a rank-2 [m, k] times [k, n].
    public static func matmul(_ a: Tensor, _ b: Tensor,
                              transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        precondition(a.rank == 2 && b.rank == 2, "matmul needs matrices, got \(a.shape) and \(b.shape)")
        let m = transposeA ? a.shape[1] : a.shape[0]
        let n = transposeB ? b.shape[0] : b.shape[1]
        var result = Tensor(zeros: [m, n])
        result.addMatmul(a, b, transposeA: transposeA, transposeB: transposeB, alpha: 1, beta: 0)
        return result
    }

    /// self = alpha · op(a) · op(b) + beta · self, with self [m, n].
    /// `beta: 1` accumulates, as gradients need.
    public mutating func addMatmul(_ a: Tensor, _ b: Tensor,
                                   transposeA: Bool = false, transposeB: Bool = false,
                                   alpha: Float = 1, beta: Float = 1) {
        precondition(a.rank == 2 && b.rank == 2 && rank == 2,
                     "matmul needs matrices, got \(a.shape), \(b.shape) into \(shape)")
        let m = transposeA ? a.shape[1] : a.shape[0]
        let k = transposeA ? a.shape[0] : a.shape[1]
        let kB = transposeB ? b.shape[1] : b.shape[0]
        let n = transposeB ? b.shape[0] : b.shape[1]
        precondition(k == kB, "matmul: inner extents differ: \(a.shape)\(transposeA ? "ᵀ" : "") · \(b.shape)\(transposeB ? "ᵀ" : "")")
        precondition(shape == [m, n], "matmul: result is [\(m), \(n)] but target is \(shape)")
        let lda = a.shape[1], ldb = b.shape[1]
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                withUnsafeMutableBufferPointer { c in
                    BLAS.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                               alpha: alpha, a: a.baseAddress!, lda: lda, b: b.baseAddress!, ldb: ldb,
                               beta: beta, c: c.baseAddress!, ldc: n)
                }
            }
        }
    }

    /// The transpose of a matrix.
    public func transposed() -> Tensor {
        precondition(rank == 2, "transposed() needs a matrix, got \(shape)")
        let rows = shape[0], columns = shape[1]
        return Tensor(shape: [columns, rows]) { target in
            withUnsafeBufferPointer { source in
                for row in 0..<rows {
                    for column in 0..<columns { target[column * rows + row] = source[row * columns + column] }
                }
            }
        }
    }

    /// The number of scalars in one entry along the first axis.
    @usableFromInline
    var rowScalarCount: Int { shape.dropFirst().reduce(1, *) }

    /// Entries `range` along the first axis (a copy): rows of a matrix, images of a batch.
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(rank >= 1 && range.lowerBound >= 0 && range.upperBound <= shape[0],
                     "rows \(range) out of range for shape \(shape)")
        var resultShape = shape
        resultShape[0] = range.count
        let width = rowScalarCount
        return Tensor(shape: resultShape) { target in
            withUnsafeBufferPointer { source in
                target.baseAddress!.update(from: source.baseAddress! + range.lowerBound * width,
                                           count: range.count * width)
            }
        }
    }

    /// Entry `index` along the first axis, without that axis: row i of a matrix is a vector.
    public func row(_ index: Int) -> Tensor {
        let slice = rows(index..<(index + 1))
        return slice.reshaped(to: Array(shape.dropFirst()))
    }

    /// Overwrites entries starting at `start` along the first axis with `values`,
    /// whose shape is this one's with a smaller (or equal) first extent.
    public mutating func setRows(startingAt start: Int, to values: Tensor) {
        precondition(values.rank == rank && Array(values.shape.dropFirst()) == Array(shape.dropFirst()),
                     "setRows: \(values.shape) does not fit rows of \(shape)")
        precondition(start >= 0 && start + values.shape[0] <= shape[0],
                     "setRows: rows \(start)..<\(start + values.shape[0]) out of range for \(shape)")
        let width = rowScalarCount
        values.withUnsafeBufferPointer { source in
            withUnsafeMutableBufferPointer { target in
                (target.baseAddress! + start * width).update(from: source.baseAddress!, count: source.count)
            }
        }
    }

    /// Joins tensors along the first axis; all other extents must match.
    public static func concatenatingRows(_ parts: [Tensor]) -> Tensor {
        precondition(!parts.isEmpty, "concatenatingRows needs at least one tensor")
        var shape = parts[0].shape
        shape[0] = parts.reduce(0) { $0 + $1.shape[0] }
        var result = Tensor(zeros: shape)
        var start = 0
        for part in parts {
            result.setRows(startingAt: start, to: part)
            start += part.shape[0]
        }
        return result
    }

    /// Columns `range` of a matrix (a copy): e.g. one input's part of a concatenated
    /// LSTM input gradient.
    public func columns(_ range: Range<Int>) -> Tensor {
        precondition(rank == 2 && range.lowerBound >= 0 && range.upperBound <= shape[1],
                     "columns \(range) out of range for shape \(shape)")
        let (rowCount, width) = (shape[0], shape[1])
        return Tensor(shape: [rowCount, range.count]) { target in
            withUnsafeBufferPointer { source in
                for row in 0..<rowCount {
                    (target.baseAddress! + row * range.count)
                        .update(from: source.baseAddress! + row * width + range.lowerBound, count: range.count)
                }
            }
        }
    }

    /// Joins matrices side by side: [N, a] and [N, b] give [N, a + b]
    /// (e.g. a word embedding and an attention context as one LSTM input).
    public static func concatenatingColumns(_ parts: [Tensor]) -> Tensor {
        precondition(!parts.isEmpty && parts.allSatisfy { $0.rank == 2 && $0.shape[0] == parts[0].shape[0] },
                     "concatenatingColumns needs matrices with equal row counts, got \(parts.map(\.shape))")
        let rowCount = parts[0].shape[0]
        let width = parts.reduce(0) { $0 + $1.shape[1] }
        return Tensor(shape: [rowCount, width]) { target in
            var start = 0
            for part in parts {
                let partWidth = part.shape[1]
                part.withUnsafeBufferPointer { source in
                    for row in 0..<rowCount {
                        (target.baseAddress! + row * width + start)
                            .update(from: source.baseAddress! + row * partWidth, count: partWidth)
                    }
                }
                start += partWidth
            }
        }
    }
}
