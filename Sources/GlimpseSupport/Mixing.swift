/// SplitMix64 (Steele, Lea and Flood, 2014): the one implementation behind every seeded
/// stream and mixing step in Glimpse (xoshiro seeding, shuffles, split and scene hashing).
/// Fixed by definition, unlike the standard library's algorithms, so seeded results never
/// change with the toolchain.
public struct SplitMix64: Sendable, Equatable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// The golden-ratio increment of the state.
    public static let increment: UInt64 = 0x9E37_79B9_7F4A_7C15

    public mutating func next() -> UInt64 {
        state &+= Self.increment
        return Self.mix(state)
    }

    /// The finaliser alone: all 64 bits of `value` scrambled.
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Fisher–Yates with this stream (so shuffles are reproducible across toolchains).
    public mutating func shuffle<Element>(_ array: inout [Element]) {
        guard array.count > 1 else { return }
        for index in stride(from: array.count - 1, to: 0, by: -1) {
            let other = Int(next() % UInt64(index + 1))
            array.swapAt(index, other)
        }
    }
}

/// 64-bit FNV-1a (Fowler, Noll, Vo): the one byte hash, for splits and shards that must
/// agree on every machine (Swift's `Hasher` is seeded per process).
public enum FNV1a {
    public static func hash<Bytes: Sequence>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return hash
    }
}
