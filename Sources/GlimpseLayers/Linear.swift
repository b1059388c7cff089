import GlimpseTensor

/// A fully connected layer, y = x Wᵀ + b (PyTorch `nn.Linear`).
///
/// Input [..., in] (leading axes are flattened into rows N), output [..., out].
/// Initialisation as PyTorch: weight and bias ~ U(-1/sqrt(in), 1/sqrt(in)).
public struct Linear: Parameterized, Sendable {
    /// [out, in]
    public var weight: Tensor
    /// [out], or nil for a layer without bias.
    public var bias: Tensor?

    public var inputSize: Int { weight.shape[1] }
    public var outputSize: Int { weight.shape[0] }

    public struct Gradients: Sendable {
        /// [out, in]
        public var weight: Tensor
        /// [out]
        public var bias: Tensor?
    }

    public struct Cache: Sendable {
        /// [N, in]: the input flattened to rows.
        public var input: Tensor
        /// The input's shape before flattening, to shape the input gradient.
        public var inputShape: [Int]

        /// The cache `forward(input)` would build, for a caller that already holds
        /// the input (a layer applied to a state it keeps anyway).
        public init(input: Tensor) {
            precondition(input.rank >= 1, "Linear cache needs an input of rank >= 1")
            self.init(input: input.reshaped(to: [-1, input.shape[input.rank - 1]]), inputShape: input.shape)
        }

        init(input: Tensor, inputShape: [Int]) {
            self.input = input
            self.inputShape = inputShape
        }
    }

    public init(weight: Tensor, bias: Tensor?) {
        precondition(weight.rank == 2, "Linear weight must be [out, in], got \(weight.shape)")
        if let bias {
            precondition(bias.shape == [weight.shape[0]], "Linear bias must be [\(weight.shape[0])], got \(bias.shape)")
        }
        self.weight = weight
        self.bias = bias
    }

    /// PyTorch's default initialisation.
    public init(inputSize: Int, outputSize: Int, hasBias: Bool = true, using generator: inout SeededGenerator) {
        let weight = Initialization.uniformFanIn([outputSize, inputSize], fanIn: inputSize, using: &generator)
        let bias = hasBias ? Initialization.uniformFanIn([outputSize], fanIn: inputSize, using: &generator) : nil
        self.init(weight: weight, bias: bias)
    }

    public var parameterPaths: [ParameterPath<Linear>] {
        var paths = [ParameterPath<Linear>(name: "weight", parameter: \.weight, gradient: \.weight)]
        if bias != nil { paths.append(ParameterPath(name: "bias", parameter: \.bias!, gradient: \.bias!)) }
        return paths
    }

    public func zeroGradients() -> Gradients {
        Gradients(weight: Tensor(zeros: weight.shape), bias: bias.map { Tensor(zeros: $0.shape) })
    }

    private func rows(of input: Tensor) -> Tensor {
        precondition(input.rank >= 1 && input.shape.last == inputSize,
                     "Linear(\(inputSize) -> \(outputSize)) got input \(input.shape)")
        return input.reshaped(to: [-1, inputSize])
    }

    /// Inference: no cache.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        let flat = rows(of: input)
        let rowCount = flat.shape[0]
        var output = Tensor(zeros: [rowCount, outputSize])
        if let bias {
            // Start from the broadcast bias and let sgemm accumulate onto it (beta 1).
            output.withUnsafeMutableBufferPointer { out in
                bias.withUnsafeBufferPointer { b in
                    for row in 0..<rowCount {
                        (out.baseAddress! + row * outputSize).update(from: b.baseAddress!, count: outputSize)
                    }
                }
            }
        }
        output.addMatmul(flat, weight, transposeB: true, beta: bias == nil ? 0 : 1)
        return output.reshaped(to: Array(input.shape.dropLast()) + [outputSize])
    }

    public func forward(_ input: Tensor) -> (output: Tensor, cache: Cache) {
        (self(input), Cache(input: rows(of: input), inputShape: input.shape))
    }

    /// Accumulates dW += dYᵀ X and db += Σ_rows dY; returns dX = dY W.
    public func backward(_ outputGradient: Tensor, cache: Cache, into gradients: inout Gradients) -> Tensor {
        let rowCount = cache.input.shape[0]
        precondition(outputGradient.scalarCount == rowCount * outputSize,
                     "Linear backward: output gradient \(outputGradient.shape) does not match \(rowCount) rows of \(outputSize)")
        let dOutput = outputGradient.reshaped(to: [rowCount, outputSize])
        gradients.weight.addMatmul(dOutput, cache.input, transposeA: true, beta: 1)
        if gradients.bias != nil { Linear.accumulateColumnSums(of: dOutput, into: &gradients.bias!) }
        let dInput = Tensor.matmul(dOutput, weight)
        return dInput.reshaped(to: cache.inputShape)
    }

    /// target[j] += Σ_i matrix[i, j]: the bias gradient of anything applied per row.
    static func accumulateColumnSums(of matrix: Tensor, into target: inout Tensor) {
        let rowCount = matrix.shape[0], columns = matrix.shape[1]
        precondition(target.shape == [columns], "column sums of \(matrix.shape) into \(target.shape)")
        matrix.withUnsafeBufferPointer { source in
            target.withUnsafeMutableBufferPointer { sums in
                for row in 0..<rowCount {
                    let values = source.baseAddress! + row * columns
                    for column in 0..<columns { sums[column] += values[column] }
                }
            }
        }
    }
}
