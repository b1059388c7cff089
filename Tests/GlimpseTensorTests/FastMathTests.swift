import Foundation
import GlimpseTensor
import Testing

@Suite("FastMath")
struct FastMathTests {
    /// A grid over [-12, 12] in steps of 1e-4, plus small values around the
    /// approximation's switch to tanh(x) = x at |x| = 0.0004.
    static func sampleInputs(_ body: (Float) -> Void) {
        for step in -120_000...120_000 { body(Float(step) * 1e-4) }
        for step in -1_000...1_000 { body(Float(step) * 1e-6) }
    }

    @Test("tanh is within 5e-7 of Double tanh over [-12, 12], odd, and exact at the ends")
    func tanhAccuracy() {
        var worst = 0.0
        Self.sampleInputs { x in
            worst = max(worst, abs(Double(FastMath.tanh(x)) - Foundation.tanh(Double(x))))
        }
        #expect(worst < 5e-7, "max |error| \(worst)")
        #expect(FastMath.tanh(1.5) == -FastMath.tanh(-1.5))
        #expect(FastMath.tanh(100) == 1 && FastMath.tanh(-100) == -1)
        #expect(FastMath.tanh(0) == 0 && FastMath.tanh(1e-6) == 1e-6)
    }

    @Test("sigmoid is within 3e-7 of 1/(1 + e^-x)")
    func sigmoidAccuracy() {
        var worst = 0.0
        Self.sampleInputs { x in
            let exact = 1 / (1 + Foundation.exp(-Double(x)))
            worst = max(worst, abs(Double(FastMath.sigmoid(x)) - exact))
        }
        #expect(worst < 3e-7, "max |error| \(worst)")
        #expect(FastMath.sigmoid(0) == 0.5)
    }

    @Test("NaN propagates instead of saturating")
    func nan() {
        #expect(FastMath.tanh(.nan).isNaN)
        #expect(FastMath.sigmoid(.nan).isNaN)
    }

    @Test("vectorised sums agree with a Double loop, including the tail after the last 16", arguments: [0, 5, 16, 37])
    func reductions(count: Int) {
        var generator = SeededGenerator(seed: 90)
        let a = (0..<count).map { _ in generator.normal(mean: 3) }
        let b = (0..<count).map { _ in generator.normal() }
        let center: Float = 2.5
        let sum = a.reduce(0.0) { $0 + Double($1) }
        let squares = a.reduce(0.0) { $0 + (Double($1) - 2.5) * (Double($1) - 2.5) }
        let dot = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let centeredDot = zip(a, b).reduce(0.0) { $0 + Double($1.0) * (Double($1.1) - 2.5) }
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                let (x, y) = (a.baseAddress ?? UnsafePointer(bitPattern: 16)!, b.baseAddress ?? UnsafePointer(bitPattern: 16)!)
                #expect(abs(FastMath.sum(x, count: count) - sum) < 1e-4)
                #expect(abs(FastMath.sumOfSquaredDeviations(x, count: count, from: center) - squares) < 1e-4)
                #expect(abs(FastMath.dot(x, y, count: count) - dot) < 1e-4)
                #expect(abs(FastMath.dot(x, y, count: count, centeringSecondOn: center) - centeredDot) < 1e-4)
            }
        }
    }
}
