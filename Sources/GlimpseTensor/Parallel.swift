import Dispatch

/// Swift-level parallel loops for the memory-bound passes around the BLAS calls
/// (BatchNorm, ReLU, pooling, layout changes).
///
/// With OpenBLAS on two threads the sgemms already use both cores, but every pass
/// between them ran on one core while the other idled. Each index must write
/// only its own outputs, so results do not depend on the thread count or on
/// scheduling (reductions stay inside one index, in a fixed order).
public enum Parallel {
    /// Workers for `forEach`; 1 runs everything on the calling thread. Set once at
    /// start-up, like `BLAS.threadCount`.
    nonisolated(unsafe) public static var threadCount = 2

    /// Uses `cores` cores for the whole computation, without oversubscribing them: `cores`
    /// Swift workers (`threadCount`), each making its own single-threaded BLAS calls, and
    /// OpenBLAS on one thread (`BLAS.threadCount`) for the products made outside the workers.
    ///
    /// Why one BLAS thread: between multi-threaded calls OpenBLAS's idle thread spins in
    /// `sched_yield` for about 0.1 s, competing with the Swift workers for the same cores.
    /// Measured on AMD EPYC Zen 4, 2 cores, interleaved: one image captioned in-process
    /// 15.7 → 12.8 ms (CPU 32 → 19 ms); a training step at 32 × 5 the same wall time,
    /// 1595 → 1373 ms of CPU (see Docs/performance.md).
    ///
    /// OpenBLAS's own worker threads, started when the library loaded, spin for about 0.1 s
    /// before they sleep: they are stopped here, so that a short process (`glimpse caption`
    /// of one image, about 50 ms) does not share its cores with them all its life.
    public static func use(cores: Int) {
        precondition(cores >= 1, "at least one core")
        threadCount = cores
        BLAS.threadCount = 1
        BLAS.stopIdleThreads()
    }

    /// Calls `body(index)` for every index in 0..<count, spread over `threadCount` threads.
    /// Runs inline for a single index or a single thread.
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        guard count > 1 && threadCount > 1 else {
            for index in 0..<count { body(index) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: count) { box.value($0) }
        }
    }
}

/// Lets a closure over raw pointers cross into `concurrentPerform`: `Parallel.forEach`
/// callers guarantee that distinct indices touch distinct memory.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
