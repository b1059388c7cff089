import GlimpseTensor

/// One step of a long short-term memory cell (PyTorch `nn.LSTMCell`).
///
/// gates = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh, [B, 4H], split in the order
/// i (input), f (forget), g (candidate), o (output):
/// c' = σ(f)·c + σ(i)·tanh(g),  h' = σ(o)·tanh(c').
/// The order is applied in one place (`Gate.split`), and a test pins it with
/// hand-set weights.
///
/// σ and tanh are `FastMath`'s approximations (within 4e-7 of the exact values).
///
/// Initialisation as PyTorch: all four tensors ~ U(-1/sqrt(H), 1/sqrt(H)).
/// Options: orthogonal recurrent weights (each gate's [H, H] block of W_hh
/// orthogonal, as `orthogonal_` applied per block), and a forget-gate bias.
public struct LSTMCell: Parameterized, Sendable {
    /// W_ih, [4H, I] ("weight_ih")
    public var inputWeight: Tensor
    /// W_hh, [4H, H] ("weight_hh")
    public var recurrentWeight: Tensor
    /// b_ih, [4H] ("bias_ih")
    public var inputBias: Tensor
    /// b_hh, [4H] ("bias_hh")
    public var recurrentBias: Tensor

    public var inputSize: Int { inputWeight.shape[1] }
    public var hiddenSize: Int { recurrentWeight.shape[1] }

    /// The gate blocks of the 4H axis, in PyTorch's order.
    public enum Gate: Int, CaseIterable, Sendable {
        case input = 0, forget, candidate, output

        /// The rows of W_ih / W_hh (and entries of the biases) belonging to this gate.
        public func range(hiddenSize: Int) -> Range<Int> {
            (rawValue * hiddenSize)..<((rawValue + 1) * hiddenSize)
        }

        /// One row of gates [4H] seen as its four blocks: the only place the order
        /// is applied, in forward and backward alike.
        @inline(__always)
        static func split(_ row: UnsafeMutablePointer<Float>, hiddenSize: Int) -> (
            input: UnsafeMutablePointer<Float>, forget: UnsafeMutablePointer<Float>,
            candidate: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>
        ) {
            (row + Gate.input.range(hiddenSize: hiddenSize).lowerBound,
             row + Gate.forget.range(hiddenSize: hiddenSize).lowerBound,
             row + Gate.candidate.range(hiddenSize: hiddenSize).lowerBound,
             row + Gate.output.range(hiddenSize: hiddenSize).lowerBound)
        }
    }

    /// The recurrent state between steps.
    public struct State: Sendable, Equatable {
        /// h, [B, H]
        public var hidden: Tensor
        /// c, [B, H]
        public var cell: Tensor

        public init(hidden: Tensor, cell: Tensor) {
            precondition(hidden.shape == cell.shape && hidden.rank == 2,
                         "LSTM state needs hidden and cell of equal shape [B, H], got \(hidden.shape) and \(cell.shape)")
            self.hidden = hidden
            self.cell = cell
        }

        /// h = c = 0.
        public static func zeros(batchSize: Int, hiddenSize: Int) -> State {
            State(hidden: Tensor(zeros: [batchSize, hiddenSize]), cell: Tensor(zeros: [batchSize, hiddenSize]))
        }
    }

    public struct Gradients: Sendable {
        /// [4H, I]
        public var inputWeight: Tensor
        /// [4H, H]
        public var recurrentWeight: Tensor
        /// [4H]
        public var inputBias: Tensor
        /// [4H]
        public var recurrentBias: Tensor
    }

    public struct Cache: Sendable {
        /// x, [B, I]
        public var input: Tensor
        /// h and c before the step, [B, H] each
        public var previous: State
        /// σ(i), σ(f), tanh(g), σ(o) side by side, [B, 4H]
        public var gates: Tensor
        /// tanh(c'), [B, H]
        public var cellTanh: Tensor
    }

    /// How to initialise beyond PyTorch's default.
    public struct InitializationOptions: Sendable {
        /// Replace each gate's [H, H] block of W_hh with an orthogonal matrix.
        public var orthogonalRecurrentWeights: Bool
        /// Set the forget gate's bias: b_ih gets this value and b_hh gets 0 in the
        /// forget block, so their sum (what the cell sees) is exactly this value.
        public var forgetGateBias: Float?

        public init(orthogonalRecurrentWeights: Bool = false, forgetGateBias: Float? = nil) {
            self.orthogonalRecurrentWeights = orthogonalRecurrentWeights
            self.forgetGateBias = forgetGateBias
        }

        /// PyTorch's default.
        public static let pytorch = InitializationOptions()
    }

    public init(inputWeight: Tensor, recurrentWeight: Tensor, inputBias: Tensor, recurrentBias: Tensor) {
        let hiddenSize = recurrentWeight.shape.count == 2 ? recurrentWeight.shape[1] : -1
        precondition(recurrentWeight.shape == [4 * hiddenSize, hiddenSize],
                     "LSTMCell weight_hh must be [4H, H], got \(recurrentWeight.shape)")
        precondition(inputWeight.rank == 2 && inputWeight.shape[0] == 4 * hiddenSize,
                     "LSTMCell weight_ih must be [4H, I] with H = \(hiddenSize), got \(inputWeight.shape)")
        precondition(inputBias.shape == [4 * hiddenSize] && recurrentBias.shape == [4 * hiddenSize],
                     "LSTMCell biases must be [4H] = [\(4 * hiddenSize)], got \(inputBias.shape) and \(recurrentBias.shape)")
        self.inputWeight = inputWeight
        self.recurrentWeight = recurrentWeight
        self.inputBias = inputBias
        self.recurrentBias = recurrentBias
    }

    public init(inputSize: Int, hiddenSize: Int, options: InitializationOptions = .pytorch,
                using generator: inout SeededGenerator) {
        let bound = 1 / Float(hiddenSize).squareRoot()
        // Drawn in PyTorch's parameter order: weight_ih, weight_hh, bias_ih, bias_hh.
        let inputWeight = Tensor(randomUniform: [4 * hiddenSize, inputSize], in: -bound..<bound, using: &generator)
        var recurrentWeight = Tensor(randomUniform: [4 * hiddenSize, hiddenSize], in: -bound..<bound, using: &generator)
        var inputBias = Tensor(randomUniform: [4 * hiddenSize], in: -bound..<bound, using: &generator)
        var recurrentBias = Tensor(randomUniform: [4 * hiddenSize], in: -bound..<bound, using: &generator)
        if options.orthogonalRecurrentWeights {
            for gate in Gate.allCases {
                let block = Initialization.orthogonal(rows: hiddenSize, columns: hiddenSize, using: &generator)
                recurrentWeight.setRows(startingAt: gate.range(hiddenSize: hiddenSize).lowerBound, to: block)
            }
        }
        if let forgetGateBias = options.forgetGateBias {
            for index in Gate.forget.range(hiddenSize: hiddenSize) {
                inputBias[flat: index] = forgetGateBias
                recurrentBias[flat: index] = 0
            }
        }
        self.init(inputWeight: inputWeight, recurrentWeight: recurrentWeight,
                  inputBias: inputBias, recurrentBias: recurrentBias)
    }

    public var parameterPaths: [ParameterPath<LSTMCell>] {
        [ParameterPath(name: "weight_ih", parameter: \.inputWeight, gradient: \.inputWeight),
         ParameterPath(name: "weight_hh", parameter: \.recurrentWeight, gradient: \.recurrentWeight),
         ParameterPath(name: "bias_ih", parameter: \.inputBias, gradient: \.inputBias),
         ParameterPath(name: "bias_hh", parameter: \.recurrentBias, gradient: \.recurrentBias)]
    }

    public func zeroGradients() -> Gradients {
        Gradients(inputWeight: Tensor(zeros: inputWeight.shape), recurrentWeight: Tensor(zeros: recurrentWeight.shape),
                  inputBias: Tensor(zeros: inputBias.shape), recurrentBias: Tensor(zeros: recurrentBias.shape))
    }

    /// Inference: the next state, no cache.
    public func callAsFunction(_ input: Tensor, state: State) -> State {
        step(input, state: state).state
    }

    public func forward(_ input: Tensor, state: State) -> (state: State, cache: Cache) {
        let (next, gates, cellTanh) = step(input, state: state)
        return (next, Cache(input: input, previous: state, gates: gates, cellTanh: cellTanh))
    }

    private func step(_ input: Tensor, state: State) -> (state: State, gates: Tensor, cellTanh: Tensor) {
        let batchSize = input.shape[0], hiddenSize = hiddenSize
        precondition(input.rank == 2 && input.shape[1] == inputSize,
                     "LSTMCell(\(inputSize) -> \(hiddenSize)) needs input [B, \(inputSize)], got \(input.shape)")
        precondition(state.hidden.shape == [batchSize, hiddenSize],
                     "LSTMCell state must be [\(batchSize), \(hiddenSize)], got \(state.hidden.shape)")
        let gateWidth = 4 * hiddenSize
        // Both biases broadcast into every row, then both products accumulate onto them.
        var gates = Tensor(shape: [batchSize, gateWidth]) { gates in
            inputBias.withUnsafeBufferPointer { inputBias in
                recurrentBias.withUnsafeBufferPointer { recurrentBias in
                    for row in 0..<batchSize {
                        for column in 0..<gateWidth {
                            gates[row * gateWidth + column] = inputBias[column] + recurrentBias[column]
                        }
                    }
                }
            }
        }
        gates.addMatmul(input, inputWeight, transposeB: true, beta: 1)
        gates.addMatmul(state.hidden, recurrentWeight, transposeB: true, beta: 1)

        var hidden = Tensor(zeros: [batchSize, hiddenSize])
        var cell = Tensor(zeros: [batchSize, hiddenSize])
        var cellTanh = Tensor(zeros: [batchSize, hiddenSize])
        gates.withUnsafeMutableBufferPointer { gates in
            state.cell.withUnsafeBufferPointer { previousCell in
                hidden.withUnsafeMutableBufferPointer { hidden in
                    cell.withUnsafeMutableBufferPointer { cell in
                        cellTanh.withUnsafeMutableBufferPointer { cellTanh in
                            for row in 0..<batchSize {
                                let (i, f, g, o) = Gate.split(gates.baseAddress! + row * gateWidth, hiddenSize: hiddenSize)
                                let offset = row * hiddenSize
                                for unit in 0..<hiddenSize {
                                    i[unit] = FastMath.sigmoid(i[unit])
                                    f[unit] = FastMath.sigmoid(f[unit])
                                    g[unit] = FastMath.tanh(g[unit])
                                    o[unit] = FastMath.sigmoid(o[unit])
                                    let newCell = f[unit] * previousCell[offset + unit] + i[unit] * g[unit]
                                    let squashed = FastMath.tanh(newCell)
                                    cell[offset + unit] = newCell
                                    cellTanh[offset + unit] = squashed
                                    hidden[offset + unit] = o[unit] * squashed
                                }
                            }
                        }
                    }
                }
            }
        }
        return (State(hidden: hidden, cell: cell), gates, cellTanh)
    }

    /// Given dL/dh' and dL/dc' (the cell gradient from the next step; zeros at the
    /// last step), accumulates the parameter gradients and returns dL/dx and the
    /// gradients for the previous state.
    public func backward(_ stateGradient: State, cache: Cache, into gradients: inout Gradients)
        -> (input: Tensor, state: State) {
        let batchSize = cache.input.shape[0], hiddenSize = hiddenSize, gateWidth = 4 * hiddenSize
        precondition(stateGradient.hidden.shape == [batchSize, hiddenSize],
                     "LSTMCell backward: state gradient \(stateGradient.hidden.shape), expected [\(batchSize), \(hiddenSize)]")
        var gateGradient = Tensor(zeros: [batchSize, gateWidth]) // d(pre-activation gates), [B, 4H]
        var previousCellGradient = Tensor(zeros: [batchSize, hiddenSize])
        cache.gates.withUnsafeBufferPointer { gates in
            cache.cellTanh.withUnsafeBufferPointer { cellTanh in
                cache.previous.cell.withUnsafeBufferPointer { previousCell in
                    stateGradient.hidden.withUnsafeBufferPointer { dHidden in
                        stateGradient.cell.withUnsafeBufferPointer { dCell in
                            gateGradient.withUnsafeMutableBufferPointer { dGates in
                                previousCellGradient.withUnsafeMutableBufferPointer { dPreviousCell in
                                    for row in 0..<batchSize {
                                        let (i, f, g, o) = Gate.split(UnsafeMutablePointer(mutating: gates.baseAddress!) + row * gateWidth,
                                                                      hiddenSize: hiddenSize)
                                        let (di, df, dg, dO) = Gate.split(dGates.baseAddress! + row * gateWidth, hiddenSize: hiddenSize)
                                        let offset = row * hiddenSize
                                        for unit in 0..<hiddenSize {
                                            let dh = dHidden[offset + unit], squashed = cellTanh[offset + unit]
                                            // c' reaches the loss directly and through h' = o·tanh(c').
                                            let dc = dCell[offset + unit] + dh * o[unit] * (1 - squashed * squashed)
                                            di[unit] = dc * g[unit] * i[unit] * (1 - i[unit])
                                            df[unit] = dc * previousCell[offset + unit] * f[unit] * (1 - f[unit])
                                            dg[unit] = dc * i[unit] * (1 - g[unit] * g[unit])
                                            dO[unit] = dh * squashed * o[unit] * (1 - o[unit])
                                            dPreviousCell[offset + unit] = dc * f[unit]
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        gradients.inputWeight.addMatmul(gateGradient, cache.input, transposeA: true, beta: 1)
        gradients.recurrentWeight.addMatmul(gateGradient, cache.previous.hidden, transposeA: true, beta: 1)
        Linear.accumulateColumnSums(of: gateGradient, into: &gradients.inputBias)
        Linear.accumulateColumnSums(of: gateGradient, into: &gradients.recurrentBias)
        let inputGradient = Tensor.matmul(gateGradient, inputWeight)
        let previousHiddenGradient = Tensor.matmul(gateGradient, recurrentWeight)
        return (inputGradient, State(hidden: previousHiddenGradient, cell: previousCellGradient))
    }
}
