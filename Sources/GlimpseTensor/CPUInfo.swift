import CGlimpseCPU

/// The CPU this process runs on, as CPUID reports it: who made it, which family and model,
/// and the vector features the operating system has enabled. Kernel choices (OpenBLAS's
/// kernels, Glimpse's own AVX2 kernels) are made from these features, not from names.
public struct CPUInfo: Sendable, Equatable {
    /// A vector instruction set extension that decides which kernels can run.
    public enum Feature: String, CaseIterable, Sendable, Comparable {
        case sse3 = "SSE3", ssse3 = "SSSE3", sse41 = "SSE4.1", sse42 = "SSE4.2"
        case avx = "AVX", fma = "FMA", avx2 = "AVX2"
        case avx512f = "AVX512F", avx512cd = "AVX512CD", avx512bw = "AVX512BW", avx512dq = "AVX512DQ",
             avx512vl = "AVX512VL"
        case avx512vnni = "AVX512-VNNI", avx512bf16 = "AVX512-BF16", avx512fp16 = "AVX512-FP16"
        case amxTile = "AMX-TILE", amxBF16 = "AMX-BF16", amxInt8 = "AMX-INT8"

        public static func < (lhs: Feature, rhs: Feature) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }
    }

    /// "GenuineIntel", "AuthenticAMD", ... (empty off x86).
    public var vendor: String
    /// The processor's name string, for example "AMD EPYC 9R14 96-Core Processor".
    public var brand: String
    /// Display family and model (extended fields folded in), as `lscpu` prints them.
    public var family: Int
    public var model: Int
    public var features: Set<Feature>

    public init(vendor: String, brand: String = "", family: Int = 0, model: Int = 0, features: Set<Feature>) {
        self.vendor = vendor
        self.brand = brand
        self.family = family
        self.model = model
        self.features = features
    }

    /// This machine's CPU (read once).
    public static let current: CPUInfo = {
        var raw = glimpse_cpu_info()
        glimpse_cpu_identify(&raw)
        func text<T>(_ field: T) -> String {
            withUnsafeBytes(of: field) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
        }
        let flags: [(Int32, Feature)] = [
            (raw.sse3, .sse3), (raw.ssse3, .ssse3), (raw.sse41, .sse41), (raw.sse42, .sse42),
            (raw.avx, .avx), (raw.fma, .fma), (raw.avx2, .avx2),
            (raw.avx512f, .avx512f), (raw.avx512cd, .avx512cd), (raw.avx512bw, .avx512bw),
            (raw.avx512dq, .avx512dq), (raw.avx512vl, .avx512vl),
            (raw.avx512_vnni, .avx512vnni), (raw.avx512_bf16, .avx512bf16), (raw.avx512_fp16, .avx512fp16),
            (raw.amx_tile, .amxTile), (raw.amx_bf16, .amxBF16), (raw.amx_int8, .amxInt8),
        ]
        return CPUInfo(vendor: text(raw.vendor),
                       brand: text(raw.brand).trimmingSpaces(),
                       family: Int(raw.family), model: Int(raw.model),
                       features: Set(flags.filter { $0.0 != 0 }.map(\.1)))
    }()

    public func has(_ feature: Feature) -> Bool { features.contains(feature) }

    /// AVX2 and FMA with the OS saving the YMM registers: OpenBLAS's Haswell kernels and
    /// Glimpse's own AVX2 kernels run.
    public var hasAVX2FMA: Bool { has(.avx2) && has(.fma) }

    /// The AVX-512 subset OpenBLAS's SkylakeX kernels are built for (F, CD, BW, DQ, VL),
    /// with the OS saving the ZMM registers.
    public var hasAVX512: Bool {
        [.avx512f, .avx512cd, .avx512bw, .avx512dq, .avx512vl].allSatisfy(features.contains)
    }

    /// One line for reports: name, vendor, family and model, and the widest vector features.
    public var summary: String {
        let name = brand.isEmpty ? (vendor.isEmpty ? "unknown CPU" : vendor) : brand
        let shown = features.sorted().filter { $0 >= .avx }.map(\.rawValue)
        return "\(name) (\(vendor) family \(family) model \(model); \(shown.isEmpty ? "no AVX" : shown.joined(separator: " ")))"
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        var scalars = Substring(self)
        while scalars.first == " " { scalars.removeFirst() }
        while scalars.last == " " { scalars.removeLast() }
        return String(scalars)
    }
}
