import Foundation

extension BLAS {
    /// Makes OpenBLAS use its AVX2 ("Haswell") kernels on AMD CPUs with AVX-512, by
    /// executing the program again with `OPENBLAS_CORETYPE=Haswell` set. Call it first
    /// thing in an executable's `main`; it returns when nothing needs doing.
    ///
    /// Why: Debian's OpenBLAS 0.3.21 picks its AVX-512 "Cooperlake"/"SkylakeX" kernels on
    /// Zen 4, which executes AVX-512 as two 256-bit halves; there the Haswell kernels ran
    /// the convolution and LSTM products faster (see glimpse-benchmarks and
    /// ENVIRONMENT-NOTES). OpenBLAS reads the variable once, when the library is loaded,
    /// before `main` runs, so setting it from inside the process is too late; hence the
    /// re-execution (one `execv`, a few milliseconds).
    ///
    /// To override, set `OPENBLAS_CORETYPE` yourself (any value, for example `Cooperlake`
    /// to keep OpenBLAS's own choice): a variable already set is never changed. Intel
    /// CPUs, whose AVX-512 units are full width, are left alone.
    public static func preferHaswellKernelsOnAMD() {
        let variable = "OPENBLAS_CORETYPE"
        guard getenv(variable) == nil else { return }
        guard ["Cooperlake", "SkylakeX", "Sapphirerapids"].contains(coreName), cpuVendorIsAMD() else { return }
        setenv(variable, "Haswell", 1)
        // On success execv does not return; on failure carry on with the kernels we have.
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv(variable)
    }

    private static func cpuVendorIsAMD() -> Bool {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return false }
        return info.split(separator: "\n", maxSplits: 64).contains { $0.hasPrefix("vendor_id") && $0.contains("AuthenticAMD") }
    }
}
