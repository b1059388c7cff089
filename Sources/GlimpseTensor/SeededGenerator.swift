import Foundation
import GlimpseSupport

/// A seeded pseudo-random generator: xoshiro256** (Blackman and Vigna), seeded
/// through SplitMix64 as its authors recommend.
///
/// Everything random in Glimpse takes one of these explicitly (`using: &generator`),
/// so a run is reproducible from its seed, and a checkpoint can store `state` and
/// resume the exact stream. Float sampling is done here rather than through the
/// standard library's `Float.random(in:using:)`, whose algorithm may change between
/// toolchains and would silently change every "reproducible" run.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable {
    private var s0, s1, s2, s3: UInt64

    /// A generator whose stream is a function of `seed` alone.
    public init(seed: UInt64) {
        var splitMix = SplitMix64(seed: seed)
        s0 = splitMix.next(); s1 = splitMix.next(); s2 = splitMix.next(); s3 = splitMix.next()
    }

    /// The four words of internal state, for saving in a checkpoint.
    public var state: [UInt64] { [s0, s1, s2, s3] }

    /// A generator that continues exactly where the one that reported `state` was.
    public init(state: [UInt64]) {
        precondition(state.count == 4, "xoshiro256** state is 4 words, got \(state.count)")
        precondition(state.contains { $0 != 0 }, "an all-zero xoshiro256** state never leaves zero")
        (s0, s1, s2, s3) = (state[0], state[1], state[2], state[3])
    }

    public mutating func next() -> UInt64 {
        let result = rotateLeft(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotateLeft(s3, 45)
        return result
    }

    private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 {
        (x << k) | (x >> (64 - k))
    }

    /// A uniform Float in [0, 1): the top 24 bits, so every value is exactly representable.
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * 0x1p-24
    }

    /// A uniform Double in [0, 1) from the top 53 bits.
    public mutating func nextUnitDouble() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// A uniform Float in [lowerBound, upperBound).
    public mutating func uniform(in range: Range<Float>) -> Float {
        let value = range.lowerBound + (range.upperBound - range.lowerBound) * nextUnitFloat()
        // Rounding can land on the upper bound; keep the interval half-open.
        return value < range.upperBound ? value : range.lowerBound
    }

    /// A normal sample (Box–Muller in Double, one value per call so that the state
    /// is only the four words: no cached second value to save).
    public mutating func normal(mean: Float = 0, standardDeviation: Float = 1) -> Float {
        let u1 = 1 - nextUnitDouble() // (0, 1]: log stays finite
        let u2 = nextUnitDouble()
        let z = (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
        return mean + standardDeviation * Float(z)
    }

    /// A uniform integer in 0..<upperBound, without modulo bias (Lemire's method).
    public mutating func nextIndex(below upperBound: Int) -> Int {
        precondition(upperBound > 0, "nextIndex(below:) needs a positive bound")
        let bound = UInt64(upperBound)
        var product = next().multipliedFullWidth(by: bound)
        if product.low < bound {
            let threshold = (0 &- bound) % bound
            while product.low < threshold { product = next().multipliedFullWidth(by: bound) }
        }
        return Int(product.high)
    }

    /// Fisher–Yates shuffle driven by `nextIndex(below:)`, stable across toolchains.
    public mutating func shuffle<Element>(_ elements: inout [Element]) {
        guard elements.count > 1 else { return }
        for index in stride(from: elements.count - 1, to: 0, by: -1) {
            elements.swapAt(index, nextIndex(below: index + 1))
        }
    }
}

extension Tensor {
    /// Scalars drawn uniformly from `range`.
    public init(randomUniform shape: [Int], in range: Range<Float>, using generator: inout SeededGenerator) {
        self.init(zeros: shape)
        withUnsafeMutableBufferPointer { target in
            for index in 0..<target.count { target[index] = generator.uniform(in: range) }
        }
    }

    /// Scalars drawn from a normal distribution.
    public init(randomNormal shape: [Int], mean: Float = 0, standardDeviation: Float = 1,
                using generator: inout SeededGenerator) {
        self.init(zeros: shape)
        withUnsafeMutableBufferPointer { target in
            for index in 0..<target.count {
                target[index] = generator.normal(mean: mean, standardDeviation: standardDeviation)
            }
        }
    }
}
