import Foundation
import GlimpseTensor
import Testing

/// The kernel choice as a table: CPU features and what OpenBLAS loaded in, decision out.
@Suite("OpenBLAS kernels chosen from CPU features")
struct BLASKernelDecisionTests {
    static let avx2: Set<CPUInfo.Feature> = [.sse3, .ssse3, .sse41, .sse42, .avx, .fma, .avx2]
    static let avx512 = avx2.union([.avx512f, .avx512cd, .avx512bw, .avx512dq, .avx512vl])
    /// Sapphire/Emerald Rapids class: a model Debian's OpenBLAS 0.3.21 does not know.
    static let newIntel = CPUInfo(vendor: "GenuineIntel", family: 6, model: 207,
                                  features: avx512.union([.avx512bf16, .avx512fp16, .amxTile, .amxBF16, .amxInt8]))
    static let zen4 = CPUInfo(vendor: "AuthenticAMD", family: 0x19, model: 17, features: avx512.union([.avx512bf16]))
    static let zen5 = CPUInfo(vendor: "AuthenticAMD", family: 0x1A, model: 2, features: avx512)
    static let haswellClass = CPUInfo(vendor: "GenuineIntel", family: 6, model: 63, features: avx2)
    /// An AVX2 CPU from a vendor OpenBLAS has never heard of.
    static let unknownVendorAVX2 = CPUInfo(vendor: "SomeNewVendor", family: 7, model: 1, features: avx2)
    static let sseOnly = CPUInfo(vendor: "GenuineIntel", family: 6, model: 23, features: [.sse3, .ssse3, .sse41])

    func decide(_ cpu: CPUInfo, loaded: String, variable: String? = nil, override: String? = nil) -> BLASKernelDecision.Action {
        BLAS.decideKernels(loadedCore: loaded, coreTypeVariable: variable, override: override, cpu: cpu).action
    }

    @Test("an AVX-512 CPU OpenBLAS does not recognise (it loads Prescott) gets SkylakeX kernels")
    func unknownIntelGetsAVX512() {
        #expect(decide(Self.newIntel, loaded: "Prescott") == .switchTo("SkylakeX"))
        #expect(decide(Self.newIntel, loaded: "Nehalem") == .switchTo("SkylakeX"))
        #expect(decide(Self.newIntel, loaded: "Sandybridge") == .switchTo("SkylakeX"))
        #expect(decide(Self.newIntel, loaded: "SkylakeX") == .keep)
        #expect(decide(Self.newIntel, loaded: "SapphireRapids") == .keep)
    }

    @Test("an AVX2 + FMA CPU on generic kernels gets Haswell, whoever made it")
    func avx2GetsHaswell() {
        for generic in ["Prescott", "Core2", "Katmai", "Nehalem", "Barcelona", "Unknown"] {
            #expect(decide(Self.haswellClass, loaded: generic) == .switchTo("Haswell"))
            #expect(decide(Self.unknownVendorAVX2, loaded: generic) == .switchTo("Haswell"))
        }
        #expect(decide(Self.haswellClass, loaded: "Haswell") == .keep)
        #expect(decide(Self.unknownVendorAVX2, loaded: "Zen") == .keep, "another AVX2 core of the same width stays")
    }

    @Test("Zen 4 keeps the measured preference for AVX2 kernels; Zen 5 gets AVX-512")
    func zenPreference() {
        #expect(decide(Self.zen4, loaded: "Cooperlake") == .switchTo("Haswell"))
        #expect(decide(Self.zen4, loaded: "Prescott") == .switchTo("Haswell"))
        #expect(decide(Self.zen4, loaded: "Haswell") == .keep)
        #expect(decide(Self.zen4, loaded: "Zen") == .keep)
        #expect(decide(Self.zen5, loaded: "Prescott") == .switchTo("SkylakeX"))
        #expect(decide(Self.zen5, loaded: "SkylakeX") == .keep)
    }

    @Test("OPENBLAS_CORETYPE from the environment is respected, unless it names pre-AVX2 kernels on an AVX2 CPU")
    func environmentVariable() {
        #expect(decide(Self.zen4, loaded: "Cooperlake", variable: "Cooperlake") == .keep)
        #expect(decide(Self.newIntel, loaded: "Haswell", variable: "Haswell") == .keep)
        #expect(decide(Self.newIntel, loaded: "Prescott", variable: "Prescott") == .switchTo("SkylakeX"))
        #expect(decide(Self.haswellClass, loaded: "Sandybridge", variable: "Sandybridge") == .switchTo("Haswell"))
        #expect(decide(Self.sseOnly, loaded: "Prescott", variable: "Prescott") == .keep)
    }

    @Test("GLIMPSE_BLAS_KERNELS names the kernels, or keeps OpenBLAS's choice; kernels the CPU cannot run are refused")
    func override() {
        #expect(decide(Self.zen4, loaded: "Haswell", override: "Cooperlake") == .switchTo("Cooperlake"))
        #expect(decide(Self.zen4, loaded: "Cooperlake", override: "cooperlake") == .keep)
        #expect(decide(Self.newIntel, loaded: "Prescott", override: "openblas") == .keep)
        #expect(decide(Self.newIntel, loaded: "Prescott", override: "auto") == .switchTo("SkylakeX"))
        // An AVX2-only CPU would fault on AVX-512 kernels: refused, the features decide instead.
        let refused = BLAS.decideKernels(loadedCore: "Prescott", coreTypeVariable: nil, override: "SkylakeX",
                                         cpu: Self.haswellClass)
        #expect(refused.action == .switchTo("Haswell"))
        #expect(refused.reason.contains("GLIMPSE_BLAS_KERNELS=SkylakeX ignored"))
    }

    @Test("a CPU without AVX keeps OpenBLAS's choice")
    func oldCPU() {
        #expect(decide(Self.sseOnly, loaded: "Core2") == .keep)
        #expect(BLAS.preferredCore(for: Self.sseOnly) == nil)
    }

    @Test("core names map to the width of their kernels, in any case")
    func levels() {
        #expect(BLASKernelLevel(coreName: "PRESCOTT") == .generic)
        #expect(BLASKernelLevel(coreName: "sandybridge") == .avx)
        #expect(BLASKernelLevel(coreName: "Zen") == .avx2)
        #expect(BLASKernelLevel(coreName: "Cooperlake") == .avx512)
        #expect(BLASKernelLevel(cpu: Self.newIntel) == .avx512)
        #expect(BLASKernelLevel(cpu: Self.haswellClass) == .avx2)
    }

    @Test("this machine's CPU is identified: a vendor, and AVX2 implies AVX and FMA's companions")
    func thisMachine() {
        let cpu = CPUInfo.current
        #if arch(x86_64)
        #expect(!cpu.vendor.isEmpty)
        #expect(cpu.has(.sse3), "every x86-64 CPU Glimpse runs on has SSE3")
        if cpu.has(.avx2) { #expect(cpu.has(.avx)) }
        if cpu.hasAVX512 { #expect(cpu.hasAVX2FMA) }
        #endif
    }
}

@Suite("OpenBLAS kernels in this process")
struct BLASKernelsInUseTests {
    @Test("on a CPU with AVX2 + FMA this process runs AVX2-or-wider kernels after the first BLAS call")
    func notGeneric() {
        BLAS.selectKernels()
        let environment = ProcessInfo.processInfo.environment
        guard CPUInfo.current.hasAVX2FMA, environment["GLIMPSE_BLAS_KERNELS"] == nil else { return }
        #expect(BLASKernelLevel(coreName: BLAS.coreName) >= .avx2, "\(BLAS.kernelReport)")
    }
}
