import GlimpseTensor

/// A lookup table of token vectors (PyTorch `nn.Embedding`): tokens [N] -> [N, E].
/// Initialisation as PyTorch: weight ~ N(0, 1).
public struct Embedding: Parameterized, Sendable {
    /// [V, E]
    public var weight: Tensor

    public var vocabularySize: Int { weight.shape[0] }
    public var embeddingSize: Int { weight.shape[1] }

    public struct Gradients: Sendable {
        /// [V, E]; only the rows of tokens seen are non-zero.
        public var weight: Tensor
    }

    public struct Cache: Sendable {
        /// [N]: the token ids looked up.
        public var tokens: [Int]
    }

    public init(weight: Tensor) {
        precondition(weight.rank == 2, "Embedding weight must be [V, E], got \(weight.shape)")
        self.weight = weight
    }

    public init(vocabularySize: Int, embeddingSize: Int, using generator: inout SeededGenerator) {
        self.init(weight: Tensor(randomNormal: [vocabularySize, embeddingSize], using: &generator))
    }

    public var parameterPaths: [ParameterPath<Embedding>] {
        [ParameterPath(name: "weight", parameter: \.weight, gradient: \.weight)]
    }

    public func zeroGradients() -> Gradients {
        Gradients(weight: Tensor(zeros: weight.shape))
    }

    public func callAsFunction(_ tokens: [Int]) -> Tensor {
        let embeddingSize = embeddingSize, vocabularySize = vocabularySize
        return Tensor(shape: [tokens.count, embeddingSize]) { output in
            weight.withUnsafeBufferPointer { table in
                for (row, token) in tokens.enumerated() {
                    precondition(token >= 0 && token < vocabularySize, "token \(token) outside vocabulary 0..<\(vocabularySize)")
                    (output.baseAddress! + row * embeddingSize)
                        .update(from: table.baseAddress! + token * embeddingSize, count: embeddingSize)
                }
            }
        }
    }

    public func forward(_ tokens: [Int]) -> (output: Tensor, cache: Cache) {
        (self(tokens), Cache(tokens: tokens))
    }

    /// Scatter-adds each row of dY onto its token's row of dW (a token seen twice
    /// gets both). Token ids have no gradient, so nothing is returned.
    public func backward(_ outputGradient: Tensor, cache: Cache, into gradients: inout Gradients) {
        let embeddingSize = embeddingSize
        precondition(outputGradient.shape == [cache.tokens.count, embeddingSize],
                     "Embedding backward: gradient \(outputGradient.shape), expected [\(cache.tokens.count), \(embeddingSize)]")
        outputGradient.withUnsafeBufferPointer { dy in
            gradients.weight.withUnsafeMutableBufferPointer { dW in
                for (row, token) in cache.tokens.enumerated() {
                    let source = dy.baseAddress! + row * embeddingSize
                    let target = dW.baseAddress! + token * embeddingSize
                    for index in 0..<embeddingSize { target[index] += source[index] }
                }
            }
        }
    }
}
