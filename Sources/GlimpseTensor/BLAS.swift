import CBLAS
import CGlimpseCPU

/// The few OpenBLAS entry points Glimpse uses, with Swift types.
///
/// All matrices are row-major. Leading dimensions are the row strides (in scalars)
/// of the matrices as stored, before any transpose.
public enum BLAS {
    /// The number of threads OpenBLAS uses for one call. Set it once at start-up:
    /// on two shared cores, 1 thread per process plus Swift-level parallelism and
    /// 2 BLAS threads with serial Swift code perform about the same.
    public static var threadCount: Int {
        get { Int(openblas_get_num_threads()) }
        set {
            precondition(newValue >= 1, "OpenBLAS needs at least one thread")
            selectKernels()
            openblas_set_num_threads(Int32(newValue))
        }
    }

    /// Stops OpenBLAS's worker threads, which spin for about 0.1 s after they start (at load)
    /// and after each threaded call; OpenBLAS starts them again when a call runs on several
    /// threads. For processes that keep OpenBLAS on one thread (`Parallel.use(cores:)`).
    public static func stopIdleThreads() {
        selectKernels()
        _ = glimpse_openblas_stop_threads()
    }

    /// The kernel set OpenBLAS chose for this CPU (for example "Haswell", "Cooperlake").
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// OpenBLAS's build description, for example "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64".
    public static var configuration: String {
        guard let text = openblas_get_config() else { return "unknown" }
        return String(cString: text)
    }

    /// Runs `body` with OpenBLAS on one thread, then restores the thread count: for
    /// Swift-level parallel regions in which every worker makes its own sgemm calls
    /// (two workers each asking for two BLAS threads would oversubscribe the cores).
    public static func singleThreaded<Result>(_ body: () throws -> Result) rethrows -> Result {
        selectKernels()
        let saved = openblas_get_num_threads()
        guard saved > 1 else { return try body() }
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(saved) }
        return try body()
    }

    /// Products with at most this many rows run as one matrix-vector product per row
    /// (`cblas_sgemv`), as do products with one column: sgemm packs the whole of B for
    /// them, which cost more than the product. The decoder's step at batch 1 (one image,
    /// greedy) or 3 (beam 3) is made of such products. Measured on AMD EPYC Zen 3, one
    /// thread, B from 46 × 256 to 1024 × 384: sgemv 5x faster than sgemm for one row,
    /// 2.5x for 3, even at 4.
    public static let matrixVectorRows = 3

    /// C = alpha * op(A) * op(B) + beta * C, where op(A) is [m, k], op(B) is [k, n]
    /// and C is [m, n]. With `beta == 1` the product accumulates into C.
    ///
    /// - Parameters:
    ///   - transposeA: whether A is stored as [k, m] (its transpose is used).
    ///   - transposeB: whether B is stored as [n, k].
    @inlinable
    public static func sgemm(
        transposeA: Bool, transposeB: Bool,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        _ = selection
        // OpenBLAS rejects empty matrices in some builds; an empty product leaves C as beta * C.
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            scale(c, rows: m, columns: n, leadingDimension: ldc, by: beta)
            return
        }
        if m <= matrixVectorRows {
            // Row by row: C[i, :] = alpha · op(B)ᵀ · (row i of op(A)) + beta · C[i, :].
            // C may be uninitialised memory, NaNs included: with beta 0 it is cleared first,
            // since not every OpenBLAS version ignores y's values when gemv's beta is 0.
            if beta == 0 { scale(c, rows: m, columns: n, leadingDimension: ldc, by: 0) }
            for row in 0..<m {
                let x = transposeA ? a + row : a + row * lda
                let xStride = transposeA ? lda : 1
                if transposeB {
                    cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), alpha, b, Int32(ldb),
                                x, Int32(xStride), beta, c + row * ldc, 1)
                } else {
                    cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(n), alpha, b, Int32(ldb),
                                x, Int32(xStride), beta, c + row * ldc, 1)
                }
            }
            return
        }
        if n == 1 {
            // One column: C[:, 0] = alpha · op(A) · (column 0 of op(B)) + beta · C[:, 0].
            let xStride = transposeB ? 1 : ldb
            if beta == 0 { scale(c, rows: m, columns: 1, leadingDimension: ldc, by: 0) }
            if transposeA {
                cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(m), alpha, a, Int32(lda),
                            b, Int32(xStride), beta, c, Int32(ldc))
            } else {
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(k), alpha, a, Int32(lda),
                            b, Int32(xStride), beta, c, Int32(ldc))
            }
            return
        }
        cblas_sgemm(CblasRowMajor,
                    transposeA ? CblasTrans : CblasNoTrans,
                    transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb),
                    beta, c, Int32(ldc))
    }

    /// y = alpha * op(A) * x + beta * y, where A is stored [rows, columns].
    @inlinable
    public static func sgemv(
        transpose: Bool, rows: Int, columns: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>
    ) {
        _ = selection
        guard rows > 0, columns > 0 else { return }
        cblas_sgemv(CblasRowMajor, transpose ? CblasTrans : CblasNoTrans,
                    Int32(rows), Int32(columns), alpha, a, Int32(lda), x, 1, beta, y, 1)
    }

    /// A += alpha * x yᵀ, where A is [rows, columns] with row stride `lda`.
    @inlinable
    public static func sger(
        rows: Int, columns: Int, alpha: Float = 1,
        x: UnsafePointer<Float>, y: UnsafePointer<Float>,
        a: UnsafeMutablePointer<Float>, lda: Int
    ) {
        _ = selection
        guard rows > 0, columns > 0 else { return }
        cblas_sger(CblasRowMajor, Int32(rows), Int32(columns), alpha, x, 1, y, 1, a, Int32(lda))
    }

    /// y += alpha * x over `count` contiguous scalars.
    @inlinable
    public static func saxpy(count: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        _ = selection
        guard count > 0 else { return }
        cblas_saxpy(Int32(count), alpha, x, 1, y, 1)
    }

    @usableFromInline
    static func scale(_ c: UnsafeMutablePointer<Float>, rows: Int, columns: Int,
                      leadingDimension: Int, by beta: Float) {
        for row in 0..<rows {
            let start = c + row * leadingDimension
            for column in 0..<columns { start[column] = beta == 0 ? 0 : beta * start[column] }
        }
    }
}
