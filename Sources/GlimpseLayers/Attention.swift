import Foundation
import GlimpseTensor

/// Deterministic soft attention with a gate, as in Show, Attend and Tell
/// (Xu et al. 2015, section 4.2.1). The paper's gate β is a scalar per step; like
/// the common PyTorch implementation, whose module names this layer keeps, it is a
/// vector here, one gate per feature:
///
///     e      = full_att(tanh(encoder_att(a) + decoder_att(h)))   [B, P]
///     α      = softmax over P of e                               [B, P]
///     z      = Σ_p α_p a_p                                       [B, D]
///     β      = σ(f_beta(h))                                      [B, D]
///     output = β ⊙ z                                             [B, D]
///
/// Features a are [B, P, D], the hidden state h is [B, H]. encoder_att(a) does not
/// depend on the step, so the caller computes it once per image with
/// `projectFeatures` / `forwardProjection` and passes it to every step; backward
/// mirrors this: every step adds into one `FeatureGradients`, and
/// `backwardProjection` turns the sum into dL/da once.
///
/// σ and tanh are `FastMath`'s approximations (within 4e-7 of the exact values).
///
/// Initialisation: each Linear as PyTorch (U(-1/sqrt(in), 1/sqrt(in))).
public struct SoftAttention: Parameterized, Sendable {
    /// D -> A ("encoder_att")
    public var encoderAttention: Linear
    /// H -> A ("decoder_att")
    public var decoderAttention: Linear
    /// A -> 1 ("full_att")
    public var fullAttention: Linear
    /// H -> D, the β gate ("f_beta")
    public var gate: Linear

    public var featureSize: Int { encoderAttention.inputSize }
    public var attentionSize: Int { encoderAttention.outputSize }
    public var hiddenSize: Int { decoderAttention.inputSize }

    public struct Gradients: Sendable {
        public var encoderAttention: Linear.Gradients
        public var decoderAttention: Linear.Gradients
        public var fullAttention: Linear.Gradients
        public var gate: Linear.Gradients
    }

    public struct Output: Sendable {
        /// β ⊙ z, [B, D]
        public var context: Tensor
        /// α, [B, P]; each row sums to 1.
        public var weights: Tensor
    }

    public struct Cache: Sendable {
        /// a, [B, P, D] (shares storage with the caller's features: no copy)
        public var features: Tensor
        /// h, [B, H]
        public var hidden: Tensor
        /// tanh(encoder_att(a) + decoder_att(h)), [B·P, A]
        public var activated: Tensor
        /// α, [B, P]
        public var weights: Tensor
        /// z before gating, [B, D]
        public var attended: Tensor
        /// β, [B, D]
        public var gateValues: Tensor
    }

    /// Gradients with respect to the per-image inputs, summed over the steps by
    /// `backward` and finished once by `backwardProjection`.
    public struct FeatureGradients: Sendable {
        /// dL/da through the weighted sums z, [B, P, D]; empty ([0]) when nobody needs dL/da
        /// (a frozen encoder): the steps then skip its B·P·D accumulation.
        public var features: Tensor
        /// dL/d encoder_att(a), [B, P, A]
        public var projectedFeatures: Tensor
    }

    public init(encoderAttention: Linear, decoderAttention: Linear, fullAttention: Linear, gate: Linear) {
        precondition(encoderAttention.outputSize == decoderAttention.outputSize
                     && fullAttention.inputSize == encoderAttention.outputSize && fullAttention.outputSize == 1
                     && gate.inputSize == decoderAttention.inputSize && gate.outputSize == encoderAttention.inputSize,
                     "SoftAttention layers do not fit together: encoder_att \(encoderAttention.weight.shape), "
                        + "decoder_att \(decoderAttention.weight.shape), full_att \(fullAttention.weight.shape), "
                        + "f_beta \(gate.weight.shape)")
        self.encoderAttention = encoderAttention
        self.decoderAttention = decoderAttention
        self.fullAttention = fullAttention
        self.gate = gate
    }

    public init(featureSize: Int, hiddenSize: Int, attentionSize: Int, using generator: inout SeededGenerator) {
        self.init(encoderAttention: Linear(inputSize: featureSize, outputSize: attentionSize, using: &generator),
                  decoderAttention: Linear(inputSize: hiddenSize, outputSize: attentionSize, using: &generator),
                  fullAttention: Linear(inputSize: attentionSize, outputSize: 1, using: &generator),
                  gate: Linear(inputSize: hiddenSize, outputSize: featureSize, using: &generator))
    }

    public var parameterPaths: [ParameterPath<SoftAttention>] {
        encoderAttention.parameterPaths(nestedIn: \.encoderAttention, gradients: \.encoderAttention, prefix: "encoder_att")
            + decoderAttention.parameterPaths(nestedIn: \.decoderAttention, gradients: \.decoderAttention, prefix: "decoder_att")
            + fullAttention.parameterPaths(nestedIn: \.fullAttention, gradients: \.fullAttention, prefix: "full_att")
            + gate.parameterPaths(nestedIn: \.gate, gradients: \.gate, prefix: "f_beta")
    }

    public func zeroGradients() -> Gradients {
        Gradients(encoderAttention: encoderAttention.zeroGradients(), decoderAttention: decoderAttention.zeroGradients(),
                  fullAttention: fullAttention.zeroGradients(), gate: gate.zeroGradients())
    }

    // MARK: The per-image projection

    /// encoder_att(a): [B, P, D] -> [B, P, A], once per image.
    public func projectFeatures(_ features: Tensor) -> Tensor {
        encoderAttention(features)
    }

    public func forwardProjection(_ features: Tensor) -> (projected: Tensor, cache: Linear.Cache) {
        let (projected, cache) = encoderAttention.forward(features)
        return (projected, cache)
    }

    /// Zero feature gradients for the features that `cache` projected.
    public func zeroFeatureGradients(for cache: Linear.Cache) -> FeatureGradients {
        let shape = cache.inputShape // [B, P, D]
        return FeatureGradients(features: Tensor(zeros: shape),
                                projectedFeatures: Tensor(zeros: Array(shape.dropLast()) + [attentionSize]))
    }

    /// Once all steps have added into `featureGradients`: accumulates encoder_att's
    /// parameter gradients and returns the whole dL/da, [B, P, D].
    public func backwardProjection(_ featureGradients: FeatureGradients, cache: Linear.Cache,
                                   into gradients: inout Gradients) -> Tensor {
        var featuresGradient = encoderAttention.backward(featureGradients.projectedFeatures, cache: cache,
                                                         into: &gradients.encoderAttention)
        if featureGradients.features.scalarCount > 0 { featuresGradient += featureGradients.features }
        return featuresGradient
    }

    // MARK: One step

    public func callAsFunction(features: Tensor, projectedFeatures: Tensor, hidden: Tensor) -> Output {
        forward(features: features, projectedFeatures: projectedFeatures, hidden: hidden).output
    }

    public func forward(features: Tensor, projectedFeatures: Tensor, hidden: Tensor) -> (output: Output, cache: Cache) {
        precondition(features.rank == 3 && features.shape[2] == featureSize,
                     "SoftAttention needs features [B, P, \(featureSize)], got \(features.shape)")
        let (batchSize, locations) = (features.shape[0], features.shape[1])
        let (featureSize, attentionSize) = (featureSize, attentionSize)
        precondition(projectedFeatures.shape == [batchSize, locations, attentionSize],
                     "SoftAttention needs projected features [\(batchSize), \(locations), \(attentionSize)], got \(projectedFeatures.shape)")
        precondition(hidden.shape == [batchSize, hiddenSize],
                     "SoftAttention needs hidden [\(batchSize), \(hiddenSize)], got \(hidden.shape)")

        let decoded = decoderAttention(hidden) // [B, A]
        let activated = Tensor(shape: [batchSize * locations, attentionSize]) { activated in
            projectedFeatures.withUnsafeBufferPointer { projected in
                decoded.withUnsafeBufferPointer { decoded in
                    for image in 0..<batchSize {
                        let bias = decoded.baseAddress! + image * attentionSize
                        for location in 0..<locations {
                            let offset = (image * locations + location) * attentionSize
                            let row = activated.baseAddress! + offset
                            for unit in 0..<attentionSize { row[unit] = projected[offset + unit] + bias[unit] }
                            FastMath.tanh(row, count: attentionSize) // while the row is in L1
                        }
                    }
                }
            }
        }
        // full_att as a matrix-vector product: sgemm with one output column would
        // first pack all of the [B·P, A] activations.
        let fullBias = fullAttention.bias?[flat: 0] ?? 0
        var weights = Tensor(shape: [batchSize, locations], repeating: fullBias) // scores until softmax
        activated.withUnsafeBufferPointer { activated in
            fullAttention.weight.withUnsafeBufferPointer { fullWeight in
                weights.withUnsafeMutableBufferPointer { scores in
                    BLAS.sgemv(transpose: false, rows: batchSize * locations, columns: attentionSize,
                               a: activated.baseAddress!, lda: attentionSize, x: fullWeight.baseAddress!,
                               beta: 1, y: scores.baseAddress!)
                }
            }
        }
        weights.withUnsafeMutableBufferPointer { weights in
            for image in 0..<batchSize {
                softmaxInPlace(weights.baseAddress! + image * locations, count: locations)
            }
        }
        // z_b = a_bᵀ α_b: one matrix-vector product per image.
        var attended = Tensor(zeros: [batchSize, featureSize])
        features.withUnsafeBufferPointer { features in
            weights.withUnsafeBufferPointer { weights in
                attended.withUnsafeMutableBufferPointer { attended in
                    for image in 0..<batchSize {
                        BLAS.sgemv(transpose: true, rows: locations, columns: featureSize,
                                   a: features.baseAddress! + image * locations * featureSize, lda: featureSize,
                                   x: weights.baseAddress! + image * locations,
                                   y: attended.baseAddress! + image * featureSize)
                    }
                }
            }
        }
        let gateValues = gate(hidden).map { FastMath.sigmoid($0) }
        let output = Output(context: attended * gateValues, weights: weights)
        return (output, Cache(features: features, hidden: hidden, activated: activated, weights: weights,
                              attended: attended, gateValues: gateValues))
    }

    /// Backward of one step. `weightsGradient` is dL/dα when the loss uses α directly
    /// (the doubly stochastic penalty); nil means zero. Accumulates into decoder_att,
    /// full_att and f_beta, adds this step's dL/da and dL/d encoder_att(a) into
    /// `featureGradients` (so no per-step [B, P, ·] buffers are allocated or summed),
    /// and returns dL/dh, [B, H]. encoder_att itself is done by `backwardProjection`.
    public func backward(_ contextGradient: Tensor, weightsGradient: Tensor? = nil, cache: Cache,
                         into gradients: inout Gradients,
                         accumulatingInto featureGradients: inout FeatureGradients) -> Tensor {
        let (batchSize, locations, featureSize) = (cache.features.shape[0], cache.features.shape[1], cache.features.shape[2])
        precondition(contextGradient.shape == [batchSize, featureSize],
                     "SoftAttention backward: context gradient \(contextGradient.shape), expected [\(batchSize), \(featureSize)]")
        if let weightsGradient {
            precondition(weightsGradient.shape == [batchSize, locations],
                         "SoftAttention backward: weights gradient \(weightsGradient.shape), expected [\(batchSize), \(locations)]")
        }
        precondition((featureGradients.features.shape == cache.features.shape || featureGradients.features.shape == [0])
                     && featureGradients.projectedFeatures.shape == [batchSize, locations, attentionSize],
                     "SoftAttention backward: feature gradients \(featureGradients.features.shape) and "
                        + "\(featureGradients.projectedFeatures.shape) do not fit features \(cache.features.shape)")
        let hiddenCache = Linear.Cache(input: cache.hidden, inputShape: cache.hidden.shape)

        // Output = β ⊙ z, β = σ(f_beta(h)).
        let attendedGradient = contextGradient * cache.gateValues // [B, D]
        var hiddenGradient = gate.backward(gatePreactivationGradient(contextGradient, cache: cache), cache: hiddenCache,
                                           into: &gradients.gate) // [B, H]
        // z = Σ_p α_p a_p, then α = softmax(e).
        let weightsGradientTotal = backwardThroughWeightedSum(attendedGradient, weightsGradient: weightsGradient, cache: cache,
                                                              accumulatingInto: &featureGradients.features) // [B, P]
        let scoreGradient = backwardThroughSoftmax(weightsGradientTotal, weights: cache.weights) // [B·P]
        // e = full_att(tanh(encoder_att(a) + decoder_att(h))).
        backwardThroughFullAttention(scoreGradient, cache: cache, into: &gradients.fullAttention)
        let decodedGradient = backwardThroughTanh(scoreGradient, cache: cache,
                                                  accumulatingInto: &featureGradients.projectedFeatures) // [B, A]
        hiddenGradient += decoderAttention.backward(decodedGradient, cache: hiddenCache, into: &gradients.decoderAttention)
        return hiddenGradient
    }

    /// dL/d f_beta(h) = dOutput ⊙ z ⊙ β(1 − β), [B, D].
    private func gatePreactivationGradient(_ contextGradient: Tensor, cache: Cache) -> Tensor {
        Tensor(shape: cache.gateValues.shape) { target in
            contextGradient.withUnsafeBufferPointer { dOutput in
                cache.attended.withUnsafeBufferPointer { attended in
                    cache.gateValues.withUnsafeBufferPointer { beta in
                        for index in 0..<target.count {
                            target[index] = dOutput[index] * attended[index] * beta[index] * (1 - beta[index])
                        }
                    }
                }
            }
        }
    }

    /// z_b = a_bᵀ α_b: dα_b = a_b dz_b, and da_b += α_b dz_bᵀ straight into the sum over steps
    /// (`featuresGradient`, [B, P, D]). `attendedGradient` is dz, [B, D]; returns dα, [B, P],
    /// `weightsGradient` (the loss's own dL/dα) included.
    private func backwardThroughWeightedSum(_ attendedGradient: Tensor, weightsGradient: Tensor?, cache: Cache,
                                            accumulatingInto featuresGradient: inout Tensor) -> Tensor {
        let (batchSize, locations, featureSize) = (cache.features.shape[0], cache.features.shape[1], cache.features.shape[2])
        var weightsGradientTotal = weightsGradient ?? Tensor(zeros: [batchSize, locations])
        cache.features.withUnsafeBufferPointer { features in
            cache.weights.withUnsafeBufferPointer { weights in
                attendedGradient.withUnsafeBufferPointer { dAttended in
                    weightsGradientTotal.withUnsafeMutableBufferPointer { dWeights in
                        featuresGradient.withUnsafeMutableBufferPointer { dFeatures in
                            for image in 0..<batchSize {
                                let imageFeatures = image * locations * featureSize
                                BLAS.sgemv(transpose: false, rows: locations, columns: featureSize,
                                           a: features.baseAddress! + imageFeatures, lda: featureSize,
                                           x: dAttended.baseAddress! + image * featureSize, beta: 1,
                                           y: dWeights.baseAddress! + image * locations)
                                guard dFeatures.count > 0 else { continue } // dL/da not wanted
                                BLAS.sger(rows: locations, columns: featureSize,
                                          x: weights.baseAddress! + image * locations,
                                          y: dAttended.baseAddress! + image * featureSize,
                                          a: dFeatures.baseAddress! + imageFeatures, lda: featureSize)
                            }
                        }
                    }
                }
            }
        }
        return weightsGradientTotal
    }

    /// Softmax: de_p = α_p (dα_p − Σ_q α_q dα_q). α and dα are [B, P]; returns de, [B·P].
    private func backwardThroughSoftmax(_ weightsGradient: Tensor, weights: Tensor) -> Tensor {
        let (batchSize, locations) = (weights.shape[0], weights.shape[1])
        return Tensor(shape: [batchSize * locations]) { target in
            weights.withUnsafeBufferPointer { weights in
                weightsGradient.withUnsafeBufferPointer { dWeights in
                    for image in 0..<batchSize {
                        let offset = image * locations
                        var weighted: Float = 0
                        for location in 0..<locations { weighted += weights[offset + location] * dWeights[offset + location] }
                        for location in 0..<locations {
                            target[offset + location] = weights[offset + location] * (dWeights[offset + location] - weighted)
                        }
                    }
                }
            }
        }
    }

    /// full_att (A -> 1) by hand rather than through Linear.backward, so that its
    /// [B·P, A] input gradient is never materialised: dW_full += deᵀ·tanh(...) and
    /// db_full += Σ de, with de the score gradient [B·P]. d tanh(...) = de ⊗ w_full is
    /// left to `backwardThroughTanh`.
    private func backwardThroughFullAttention(_ scoreGradient: Tensor, cache: Cache,
                                              into gradients: inout Linear.Gradients) {
        let pairs = scoreGradient.scalarCount
        scoreGradient.withUnsafeBufferPointer { dScores in
            cache.activated.withUnsafeBufferPointer { activated in
                gradients.weight.withUnsafeMutableBufferPointer { dWeight in
                    BLAS.sgemv(transpose: true, rows: pairs, columns: attentionSize,
                               a: activated.baseAddress!, lda: attentionSize, x: dScores.baseAddress!, beta: 1,
                               y: dWeight.baseAddress!)
                }
            }
            if gradients.bias != nil {
                var total: Float = 0
                for index in 0..<pairs { total += dScores[index] }
                gradients.bias![flat: 0] += total
            }
        }
    }

    /// Through tanh: the pre-activation gradient (de ⊗ w_full)(1 − tanh²), [B·P, A], adds
    /// into the projection's gradient (`projectedGradient`, [B, P, A]), and its sum over
    /// locations, returned as [B, A], is decoder_att's output gradient (decoder_att(h)
    /// was broadcast over P).
    private func backwardThroughTanh(_ scoreGradient: Tensor, cache: Cache,
                                     accumulatingInto projectedGradient: inout Tensor) -> Tensor {
        let (batchSize, locations) = (cache.weights.shape[0], cache.weights.shape[1])
        let attentionSize = attentionSize
        var decodedGradient = Tensor(zeros: [batchSize, attentionSize])
        scoreGradient.withUnsafeBufferPointer { dScores in
            fullAttention.weight.withUnsafeBufferPointer { fullWeight in
                cache.activated.withUnsafeBufferPointer { activated in
                    projectedGradient.withUnsafeMutableBufferPointer { dProjected in
                        decodedGradient.withUnsafeMutableBufferPointer { dDecoded in
                            for image in 0..<batchSize {
                                let dBias = dDecoded.baseAddress! + image * attentionSize
                                for location in 0..<locations {
                                    let pair = image * locations + location
                                    let dScore = dScores[pair]
                                    let offset = pair * attentionSize
                                    for unit in 0..<attentionSize {
                                        let value = activated[offset + unit]
                                        let gradient = dScore * fullWeight[unit] * (1 - value * value)
                                        dProjected[offset + unit] += gradient
                                        dBias[unit] += gradient
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return decodedGradient
    }
}

/// Softmax of `count` contiguous scores in place, shifted by the maximum so exp never overflows.
func softmaxInPlace(_ values: UnsafeMutablePointer<Float>, count: Int) {
    var largest = -Float.infinity
    for index in 0..<count { largest = max(largest, values[index]) }
    var total: Float = 0
    for index in 0..<count {
        let value = exp(values[index] - largest)
        values[index] = value
        total += value
    }
    let scale = 1 / total
    for index in 0..<count { values[index] *= scale }
}
