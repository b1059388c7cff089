import Foundation
import GlimpseLayers
import GlimpseTensor
import Testing

/// Checks hand-written gradients against central differences.
///
/// The loss is accumulated in Double (see `weightedSum`), but the layers compute in
/// float32, so each loss evaluation carries rounding noise of roughly
/// 1e-7 × Σ|terms|. The step trades that noise (∝ 1/step) against the truncation
/// error of the central difference (∝ step²); the perturbation actually applied is
/// measured after rounding the perturbed value to float32.
///
/// Error metric, per element: |analytic − numeric| / max(|analytic|, |numeric|, floor).
/// Gradients below `floor` are compared absolutely, because there the float32 noise,
/// not the gradient, sets the size of the difference.
public struct GradientChecker: Sendable {
    public var step: Float
    public var tolerance: Double
    public var floor: Double

    /// Set GLIMPSE_GRADIENT_CHECK_VERBOSE=1 to print every comparison, e.g. to see
    /// how much headroom the tolerance leaves.
    static let verbose = ProcessInfo.processInfo.environment["GLIMPSE_GRADIENT_CHECK_VERBOSE"] != nil

    public init(step: Float = 1e-2, tolerance: Double = 1e-2, floor: Double = 1e-2) {
        self.step = step
        self.tolerance = tolerance
        self.floor = floor
    }

    /// The outcome for one tensor.
    public struct Comparison: CustomStringConvertible, Sendable {
        public var name: String
        public var maxError: Double
        public var worstIndex: Int
        public var analyticAtWorst: Double
        public var numericAtWorst: Double

        public var description: String {
            "\(name): max error \(maxError) at flat index \(worstIndex) "
                + "(analytic \(analyticAtWorst), numeric \(numericAtWorst))"
        }
    }

    /// Central differences of `loss` with respect to every scalar of `value`.
    public func numericGradient(at value: Tensor, loss: (Tensor) -> Double) -> [Double] {
        var perturbed = value
        var gradient = [Double](repeating: 0, count: value.scalarCount)
        for index in 0..<value.scalarCount {
            let original = value[flat: index]
            let up = original + step, down = original - step
            perturbed[flat: index] = up
            let lossUp = loss(perturbed)
            perturbed[flat: index] = down
            let lossDown = loss(perturbed)
            perturbed[flat: index] = original
            gradient[index] = (lossUp - lossDown) / (Double(up) - Double(down))
        }
        return gradient
    }

    /// Compares `analytic` with the numeric gradient of `loss` at `value` and returns
    /// the worst element, recording nothing (`check` records).
    public func compare(_ name: String, analytic: Tensor, at value: Tensor, loss: (Tensor) -> Double) -> Comparison {
        guard analytic.shape == value.shape else {
            return Comparison(name: name, maxError: .infinity, worstIndex: 0, analyticAtWorst: .nan, numericAtWorst: .nan)
        }
        let numeric = numericGradient(at: value, loss: loss)
        var result = Comparison(name: name, maxError: 0, worstIndex: 0, analyticAtWorst: 0, numericAtWorst: 0)
        for index in 0..<numeric.count {
            let a = Double(analytic[flat: index]), n = numeric[index]
            let error = abs(a - n) / max(abs(a), abs(n), floor)
            if !(error <= result.maxError) { // also catches NaN
                result.maxError = error.isNaN ? .infinity : error
                result.worstIndex = index
                result.analyticAtWorst = a
                result.numericAtWorst = n
            }
        }
        return result
    }

    /// Compares `analytic` with the numeric gradient of `loss` at `value`; records an
    /// issue naming the tensor and the worst element if the error exceeds `tolerance`.
    @discardableResult
    public func check(_ name: String, analytic: Tensor, at value: Tensor, loss: (Tensor) -> Double,
                      sourceLocation: SourceLocation = #_sourceLocation) -> Comparison {
        if analytic.shape != value.shape {
            Issue.record("\(name): gradient shape \(analytic.shape), value shape \(value.shape)",
                         sourceLocation: sourceLocation)
        }
        let result = compare(name, analytic: analytic, at: value, loss: loss)
        if GradientChecker.verbose { print("gradient check", result) }
        if analytic.shape == value.shape && !(result.maxError <= tolerance) {
            Issue.record("gradient check failed (tolerance \(tolerance)): \(result)", sourceLocation: sourceLocation)
        }
        return result
    }

    /// Every parameter gradient of `layer` (by its PyTorch name) against central
    /// differences of `loss`, one parameter scalar at a time; records nothing.
    public func compareParameters<Layer: Parameterized>(
        of layer: Layer, gradients: Layer.Gradients, loss: (Layer) -> Double
    ) -> [Comparison] {
        layer.parameterPaths.map { path in
            compare(path.name, analytic: gradients[keyPath: path.gradient], at: layer[keyPath: path.parameter],
                    loss: { value in
                        var perturbed = layer
                        perturbed[keyPath: path.parameter] = value
                        return loss(perturbed)
                    })
        }
    }

    /// Checks every parameter gradient of `layer` (by its PyTorch name) against
    /// central differences of `loss`, recording an issue for each that fails.
    @discardableResult
    public func checkParameters<Layer: Parameterized>(
        of layer: Layer, gradients: Layer.Gradients, loss: (Layer) -> Double,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> [Comparison] {
        let comparisons = compareParameters(of: layer, gradients: gradients, loss: loss)
        for comparison in comparisons where !(comparison.maxError <= tolerance) {
            Issue.record("gradient check failed (tolerance \(tolerance)): \(comparison)", sourceLocation: sourceLocation)
        }
        return comparisons
    }
}

/// Σ output · weights in Double: a scalar loss whose gradient with respect to the
/// output is exactly `weights`, so a fixed random `weights` exercises every output.
public func weightedSum(_ output: Tensor, _ weights: Tensor) -> Double {
    output.dot(weights)
}
