import GlimpseTensor

/// Initialisers matching PyTorch's defaults, plus the orthogonal option for
/// recurrent weights. Each layer's doc comment says which one it uses.
public enum Initialization {
    /// U(-bound, bound) with bound = 1/sqrt(fanIn).
    ///
    /// PyTorch's `nn.Linear` and `nn.Conv2d` use `kaiming_uniform_(a: sqrt(5))`,
    /// whose bound sqrt(6 / ((1 + a²) fanIn)) = sqrt(6 / (6 fanIn)) is exactly this,
    /// and they draw the bias from the same interval.
    public static func uniformFanIn(_ shape: [Int], fanIn: Int, using generator: inout SeededGenerator) -> Tensor {
        let bound = 1 / Float(fanIn).squareRoot()
        return Tensor(randomUniform: shape, in: -bound..<bound, using: &generator)
    }

    /// A [rows, columns] matrix with orthonormal rows or columns (whichever are fewer),
    /// as `torch.nn.init.orthogonal_`: the Q of a QR decomposition of a standard
    /// normal matrix, signs fixed so R has a positive diagonal (which makes Q
    /// uniformly (Haar) distributed).
    ///
    /// Uses modified Gram–Schmidt in Double, applied twice for orthogonality to
    /// rounding; Gram–Schmidt produces exactly the positive-diagonal QR.
    public static func orthogonal(rows: Int, columns: Int, gain: Float = 1,
                                  using generator: inout SeededGenerator) -> Tensor {
        // Orthonormalise the columns of a tall matrix [tall, short]; transpose if wide.
        let tall = max(rows, columns), short = min(rows, columns)
        var matrix = [Double](repeating: 0, count: tall * short) // column-major: column j at j*tall
        for row in 0..<tall {
            for column in 0..<short { matrix[column * tall + row] = Double(generator.normal()) }
        }
        matrix.withUnsafeMutableBufferPointer { q in
            for column in 0..<short {
                let current = q.baseAddress! + column * tall
                for _ in 0..<2 {
                    for previous in 0..<column {
                        let other = q.baseAddress! + previous * tall
                        var projection = 0.0
                        for index in 0..<tall { projection += other[index] * current[index] }
                        for index in 0..<tall { current[index] -= projection * other[index] }
                    }
                }
                var norm = 0.0
                for index in 0..<tall { norm += current[index] * current[index] }
                norm = norm.squareRoot()
                for index in 0..<tall { current[index] /= norm }
            }
        }
        return Tensor(shape: [rows, columns]) { target in
            for row in 0..<rows {
                for column in 0..<columns {
                    // Tall: element (row, column) is Q[row, column]; wide: it is Q[column, row].
                    let value = rows >= columns ? matrix[column * tall + row] : matrix[row * tall + column]
                    target[row * columns + column] = gain * Float(value)
                }
            }
        }
    }
}
