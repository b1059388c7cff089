import Foundation

/// Which of OpenBLAS's kernel sets Glimpse runs with, decided from the CPU's features.
///
/// Why Glimpse decides: OpenBLAS picks its kernels from a list of CPU models, and a CPU
/// newer than the library falls back to generic SSE3 ("Prescott") kernels, 5-6 times
/// slower (Debian's 0.3.21 on an Intel Xeon of family 6 model 207: 37.5 GFLOP/s against
/// 223 with SkylakeX kernels). The features (CPUID) say what the CPU can run, whatever
/// its name, so they decide:
///
/// - AVX-512 (F, CD, BW, DQ, VL): SkylakeX kernels (Cooperlake's and SapphireRapids' float32
///   products are the same code; they add bfloat16 routines Glimpse does not call);
/// - AVX2 + FMA: Haswell kernels;
/// - AVX alone: Sandybridge; anything older: whatever OpenBLAS chose.
///
/// One measured exception: AMD's family 19h (Zen 4) executes AVX-512 as two 256-bit
/// halves, and there OpenBLAS's Haswell kernels used 22% less CPU per training step
/// than its AVX-512 ones (see Docs/performance.md), so Zen 4 gets Haswell.
///
/// OpenBLAS reads `OPENBLAS_CORETYPE` once, when the library is loaded, before `main`;
/// so `BLAS.selectKernels()` re-executes the program with the variable set (one `execv`).
///
/// Overrides:
/// - `GLIMPSE_BLAS_KERNELS=NAME` runs the named OpenBLAS core (refused, with a warning,
///   when the CPU lacks its features); `GLIMPSE_BLAS_KERNELS=openblas` keeps OpenBLAS's
///   own choice (or `OPENBLAS_CORETYPE`'s) untouched.
/// - `OPENBLAS_CORETYPE` set in the environment is respected unless it names a core
///   older than AVX2 on a CPU with AVX2 + FMA: such settings are usually made machine-wide
///   for an old OpenBLAS elsewhere, and would cost Glimpse a factor of 5.
public struct BLASKernelDecision: Sendable, Equatable {
    /// What the process should do.
    public enum Action: Sendable, Equatable {
        /// Run with the kernels OpenBLAS loaded.
        case keep
        /// Run again with `OPENBLAS_CORETYPE` set to this core.
        case switchTo(String)
    }

    public var action: Action
    /// Why, in words, for `glimpse info --system` and the benchmark header.
    public var reason: String
}

/// How wide the vector kernels of one of OpenBLAS's x86-64 cores are.
public enum BLASKernelLevel: Int, Comparable, Sendable {
    /// SSE2/SSE3 kernels: Prescott, Nehalem, Core2, Katmai, Atom, Barcelona, ...
    case generic
    /// AVX without FMA: Sandybridge, Bulldozer-class.
    case avx
    /// AVX2 + FMA: Haswell, Zen, Excavator.
    case avx2
    /// AVX-512: SkylakeX, Cooperlake, SapphireRapids.
    case avx512

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The level of an OpenBLAS core name (as `openblas_get_corename` spells it, any case);
    /// unknown names count as generic.
    public init(coreName: String) {
        switch coreName.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": self = .avx512
        case "haswell", "zen", "excavator": self = .avx2
        case "sandybridge", "bulldozer", "piledriver", "steamroller": self = .avx
        default: self = .generic
        }
    }

    /// The widest level this CPU runs.
    public init(cpu: CPUInfo) {
        if cpu.hasAVX512 { self = .avx512 }
        else if cpu.hasAVX2FMA { self = .avx2 }
        else if cpu.has(.avx) { self = .avx }
        else { self = .generic }
    }
}

extension BLAS {
    /// The OpenBLAS core Glimpse prefers on `cpu`, or nil where OpenBLAS's own choice stands
    /// (CPUs without AVX).
    public static func preferredCore(for cpu: CPUInfo) -> String? {
        switch BLASKernelLevel(cpu: cpu) {
        case .avx512:
            return executesAVX512AsHalves(cpu) ? "Haswell" : "SkylakeX"
        case .avx2: return "Haswell"
        case .avx: return "Sandybridge"
        case .generic: return nil
        }
    }

    /// AMD family 19h (Zen 4; Zen 3 in the same family has no AVX-512): 512-bit operations
    /// run as two 256-bit halves. Measured on Zen 4 only; Zen 5 (family 1Ah) has full-width
    /// units and keeps the AVX-512 kernels.
    static func executesAVX512AsHalves(_ cpu: CPUInfo) -> Bool {
        cpu.vendor == "AuthenticAMD" && cpu.family == 0x19 && cpu.hasAVX512
    }

    /// The decision for a process whose OpenBLAS loaded `loadedCore`.
    ///
    /// - Parameters:
    ///   - loadedCore: `openblas_get_corename()` in this process.
    ///   - coreTypeVariable: `OPENBLAS_CORETYPE` as this process found it, when it was set by
    ///     someone other than Glimpse.
    ///   - override: `GLIMPSE_BLAS_KERNELS`, if set.
    public static func decideKernels(loadedCore: String, coreTypeVariable: String?, override: String?,
                                     cpu: CPUInfo) -> BLASKernelDecision {
        let loadedLevel = BLASKernelLevel(coreName: loadedCore)
        let cpuLevel = BLASKernelLevel(cpu: cpu)
        var refusal = ""
        if let override, !override.isEmpty, override.lowercased() != "auto" {
            if override.lowercased() == "openblas" {
                return BLASKernelDecision(action: .keep, reason: "GLIMPSE_BLAS_KERNELS=openblas keeps OpenBLAS's choice")
            }
            let wanted = BLASKernelLevel(coreName: override)
            if wanted <= cpuLevel {
                if override.lowercased() == loadedCore.lowercased() {
                    return BLASKernelDecision(action: .keep, reason: "GLIMPSE_BLAS_KERNELS=\(override)")
                }
                return BLASKernelDecision(action: .switchTo(override), reason: "GLIMPSE_BLAS_KERNELS=\(override)")
            }
            refusal = "; GLIMPSE_BLAS_KERNELS=\(override) ignored: this CPU lacks its features"
        }
        guard let preferred = preferredCore(for: cpu) else {
            return BLASKernelDecision(action: .keep, reason: "OpenBLAS's choice (no AVX on this CPU)" + refusal)
        }
        let features = cpuLevel == .avx512 ? "AVX-512" : cpuLevel == .avx2 ? "AVX2+FMA" : "AVX"
        if let coreTypeVariable {
            // Someone chose the kernels; respect it unless it leaves an AVX2 CPU on pre-AVX2 kernels.
            if cpuLevel >= .avx2 && loadedLevel < .avx2 {
                return BLASKernelDecision(
                    action: .switchTo(preferred),
                    reason: "from CPU features (\(features)); OPENBLAS_CORETYPE=\(coreTypeVariable) in the environment "
                        + "would run \(loadedCore) kernels (set GLIMPSE_BLAS_KERNELS=openblas to keep them)" + refusal)
            }
            return BLASKernelDecision(action: .keep, reason: "OPENBLAS_CORETYPE=\(coreTypeVariable) in the environment" + refusal)
        }
        let preferredLevel = BLASKernelLevel(coreName: preferred)
        if loadedLevel == preferredLevel {
            return BLASKernelDecision(action: .keep, reason: "OpenBLAS's choice, matching the CPU's features (\(features))" + refusal)
        }
        let why = executesAVX512AsHalves(cpu)
            ? "from CPU features (\(features), executed as 256-bit halves on AMD family 19h: AVX2 kernels measured faster)"
            : "from CPU features (\(features))"
        return BLASKernelDecision(action: .switchTo(preferred), reason: why + "; OpenBLAS alone picked \(loadedCore)" + refusal)
    }

    /// The decision this process ran with, once `selectKernels()` has run (nil before).
    public private(set) nonisolated(unsafe) static var kernelDecision: BLASKernelDecision?

    /// Makes OpenBLAS run the kernels `decideKernels` picks for this CPU, by executing the
    /// program again with `OPENBLAS_CORETYPE` set when they differ from the loaded ones.
    /// Call it first thing in an executable's `main`, before other threads exist; it
    /// returns when nothing needs doing (or when re-execution fails: then the loaded
    /// kernels stay, and `kernelReport` says so).
    public static func selectKernels() {
        let marker = "GLIMPSE_BLAS_LOADED"
        let environment = ProcessInfo.processInfo.environment
        if let before = environment[marker] {
            // The re-executed process: report what happened, keep the variables for children.
            let note = coreName.lowercased() == (environment["OPENBLAS_CORETYPE"] ?? "").lowercased()
                ? "" : "; OpenBLAS did not take OPENBLAS_CORETYPE=\(environment["OPENBLAS_CORETYPE"] ?? "")"
            kernelDecision = BLASKernelDecision(action: .keep, reason: before + note)
            return
        }
        let decision = decideKernels(loadedCore: coreName, coreTypeVariable: environment["OPENBLAS_CORETYPE"],
                                     override: environment["GLIMPSE_BLAS_KERNELS"], cpu: .current)
        kernelDecision = decision
        guard case .switchTo(let core) = decision.action else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv(marker, decision.reason, 1)
        // On success execv does not return; on failure carry on with the kernels we have.
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv(marker)
        kernelDecision = BLASKernelDecision(action: .keep, reason: decision.reason + " (re-execution failed: \(String(cString: strerror(errno))); kept \(coreName))")
    }

    /// "Haswell kernels: <why>", for `glimpse info --system` and the benchmark header.
    public static var kernelReport: String {
        let reason = kernelDecision?.reason ?? "OpenBLAS's choice (BLAS.selectKernels() not called)"
        return "\(coreName) kernels: \(reason)"
    }
}
