import Foundation
import GlimpseTensor

/// Adam with PyTorch's update rule (`torch.optim.Adam`, amsgrad off, not
/// decoupled), per parameter and step t:
///
///     g = grad + weightDecay · p                 (L2, added to the gradient)
///     m = m + (1 − β1)(g − m)                    (PyTorch's lerp form of β1 m + (1 − β1) g)
///     v = β2 v + (1 − β2) g²
///     p = p − lr / (1 − β1ᵗ) · m / (sqrt(v) / sqrt(1 − β2ᵗ) + ε)
///
/// Moments are kept by parameter name, so one optimiser serves a whole model and
/// its state can be checkpointed. Hyperparameters are Doubles, like the Python
/// floats PyTorch keeps them in; derived scalars such as 1 − β1 are formed in
/// Double and rounded once to float32, as PyTorch does.
public struct Adam: Sendable {
    public var learningRate: Double
    public var beta1: Double
    public var beta2: Double
    public var epsilon: Double
    public var weightDecay: Double
    /// Steps taken (t after the last update).
    public var stepCount: Int
    /// m, by parameter name.
    public var firstMoments: [String: Tensor]
    /// v, by parameter name.
    public var secondMoments: [String: Tensor]
    /// Parameters whose names start with a key learn at `learningRate` times its value:
    /// PyTorch's parameter groups, each group's rate kept as a ratio to `learningRate` so that
    /// a schedule or a decay moves every group together. Empty: one rate for all.
    public var learningRateScales: [String: Double] = [:]

    public init(learningRate: Double, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8,
                weightDecay: Double = 0) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        stepCount = 0
        firstMoments = [:]
        secondMoments = [:]
    }

    /// One step over every parameter of `model`.
    public mutating func update<Model: Parameterized>(_ model: inout Model, along gradients: Model.Gradients) {
        stepCount += 1
        // Bias corrections in Double, as PyTorch computes them (Python floats).
        let t = Double(stepCount)
        let biasCorrection = 1 - pow(beta1, t)
        let stepSize = Float(learningRate / biasCorrection)
        let correctionRoot = Float((1 - pow(beta2, t)).squareRoot())
        let (firstRate, secondKeep, secondRate) = (Float(1 - beta1), Float(beta2), Float(1 - beta2))
        let (epsilon, weightDecay) = (Float(epsilon), Float(weightDecay))
        for path in model.parameterPaths {
            let gradient = gradients[keyPath: path.gradient]
            precondition(gradient.shape == model[keyPath: path.parameter].shape,
                         "Adam: gradient of \(path.name) is \(gradient.shape), parameter is \(model[keyPath: path.parameter].shape)")
            let stepSize = learningRateScales.first { path.name.hasPrefix($0.key) }
                .map { Float(learningRate * $0.value / biasCorrection) } ?? stepSize
            // Taken out of the dictionaries while updated, so each moment is uniquely
            // referenced and written in place rather than copied.
            var m = firstMoments.removeValue(forKey: path.name) ?? Tensor(zeros: gradient.shape)
            var v = secondMoments.removeValue(forKey: path.name) ?? Tensor(zeros: gradient.shape)
            gradient.withUnsafeBufferPointer { g in
                m.withUnsafeMutableBufferPointer { m in
                    v.withUnsafeMutableBufferPointer { v in
                        model[keyPath: path.parameter].withUnsafeMutableBufferPointer { p in
                            for index in 0..<p.count {
                                let grad = g[index] + weightDecay * p[index]
                                m[index] += firstRate * (grad - m[index])
                                v[index] = v[index] * secondKeep + secondRate * grad * grad
                                let denominator = v[index].squareRoot() / correctionRoot + epsilon
                                p[index] -= stepSize * (m[index] / denominator)
                            }
                        }
                    }
                }
            }
            firstMoments[path.name] = m
            secondMoments[path.name] = v
        }
    }
}

/// Scales all gradients together so their global 2-norm is at most `maxNorm`
/// (`torch.nn.utils.clip_grad_norm_`): with total = sqrt(Σ‖g‖²), every gradient is
/// multiplied by maxNorm / (total + 1e-6) when that is below 1.
/// Returns the total norm before clipping.
@discardableResult
public func clipGradientNorm<Model: Parameterized>(_ gradients: inout Model.Gradients, of model: Model,
                                                   maxNorm: Float) -> Float {
    let paths = model.parameterPaths
    var squaredTotal = 0.0
    for path in paths { squaredTotal += gradients[keyPath: path.gradient].squaredNorm() }
    let total = squaredTotal.squareRoot()
    let coefficient = Double(maxNorm) / (total + 1e-6)
    if coefficient < 1 {
        for path in paths { gradients[keyPath: path.gradient].scale(by: Float(coefficient)) }
    }
    return Float(total)
}
