import CGlimpseCPU
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
/// OpenBLAS makes its choice when the library is loaded, before `main`; Glimpse asks it to
/// choose again, in the same process, at the first BLAS call (`BLAS.selectKernels()`).
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

    /// Every x86-64 core name OpenBLAS 0.3.21 accepts in OPENBLAS_CORETYPE, lowercased.
    public static let knownCores: Set<String> = [
        "katmai", "coppermine", "northwood", "prescott", "banias", "atom", "core2", "penryn", "dunnington", "nehalem",
        "athlon", "opteron", "opteron_sse3", "barcelona", "nano", "sandybridge", "bobcat", "bulldozer", "piledriver",
        "haswell", "steamroller", "excavator", "zen", "skylakex", "cooperlake",
    ]

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
            if !BLASKernelLevel.knownCores.contains(override.lowercased()) {
                refusal = "; GLIMPSE_BLAS_KERNELS=\(override) ignored: not an OpenBLAS core name (for example Haswell, SkylakeX, Cooperlake, openblas)"
            } else if wanted <= cpuLevel {
                if override.lowercased() == loadedCore.lowercased() {
                    return BLASKernelDecision(action: .keep, reason: "GLIMPSE_BLAS_KERNELS=\(override)")
                }
                return BLASKernelDecision(action: .switchTo(override), reason: "GLIMPSE_BLAS_KERNELS=\(override)")
            } else {
                refusal = "; GLIMPSE_BLAS_KERNELS=\(override) ignored: this CPU lacks its features" }
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

    /// The decision this process runs with (made once, at the first BLAS call or at
    /// `selectKernels()`, whichever comes first).
    public static var kernelDecision: BLASKernelDecision { selection }

    /// Makes OpenBLAS run the kernels `decideKernels` picks for this CPU. Idempotent and
    /// cheap after the first call; every BLAS entry point calls it, so a library user
    /// never needs to. Executables call it first thing so that `info --system` and the
    /// benchmark header describe the kernels before any product has run.
    public static func selectKernels() { _ = selection }

    /// The switch happens inside the process: OpenBLAS (a DYNAMIC_ARCH build, as Debian's)
    /// makes its kernel choice again when asked (`glimpse_openblas_switch_core`), so no
    /// re-execution is needed and a library user gets the same kernels as the tool.
    @usableFromInline
    static let selection: BLASKernelDecision = {
        // getenv, not ProcessInfo's environment, which copies the whole environment into a
        // dictionary (measurable in a 50 ms process).
        func variable(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
        let loaded = coreName
        var decision = decideKernels(loadedCore: loaded, coreTypeVariable: variable("OPENBLAS_CORETYPE"),
                                     override: variable("GLIMPSE_BLAS_KERNELS"), cpu: .current)
        guard case .switchTo(let core) = decision.action else { return decision }
        if glimpse_openblas_switch_core(core) != 0 {
            decision.reason += " (this OpenBLAS cannot switch kernels: not a DYNAMIC_ARCH build; kept \(loaded))"
        } else if coreName.lowercased() != core.lowercased() {
            decision.reason += " (OpenBLAS did not take \(core): runs \(coreName))"
        }
        return decision
    }()

    /// "Haswell kernels: <why>", for `glimpse info --system` and the benchmark header.
    public static var kernelReport: String {
        "\(coreName) kernels: \(kernelDecision.reason)"
    }
}
