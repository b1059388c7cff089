import GlimpseLayers
import GlimpseTensor
import GlimpseTestSupport
import Testing

/// A model as the captioning model will build one: layers in an array and a
/// nested layer, each reached by key paths with dotted PyTorch names.
struct TinyModel: Parameterized {
    var layers: [Linear]
    var normalization: BatchNorm2d

    struct Gradients {
        var layers: [Linear.Gradients]
        var normalization: BatchNorm2d.Gradients
    }

    var parameterPaths: [ParameterPath<TinyModel>] {
        layers.indices.flatMap { index in
            layers[index].parameterPaths(nestedIn: \.layers[index], gradients: \.layers[index], prefix: "layers.\(index)")
        } + normalization.parameterPaths(nestedIn: \.normalization, gradients: \.normalization, prefix: "bn")
    }

    var bufferPaths: [(name: String, buffer: WritableKeyPath<TinyModel, Tensor>)] {
        normalization.bufferPaths(nestedIn: \.normalization, prefix: "bn")
    }

    func zeroGradients() -> Gradients {
        Gradients(layers: layers.map { $0.zeroGradients() }, normalization: normalization.zeroGradients())
    }
}

@Suite("Parameter paths")
struct ParameterPathTests {
    static func makeModel() -> TinyModel {
        var generator = SeededGenerator(seed: 110)
        return TinyModel(layers: [Linear(inputSize: 2, outputSize: 3, using: &generator),
                                  Linear(inputSize: 3, outputSize: 1, hasBias: false, using: &generator)],
                         normalization: BatchNorm2d(channels: 2))
    }

    @Test("nested and array-held layers list their parameters with dotted PyTorch names")
    func names() {
        let model = Self.makeModel()
        #expect(model.parameterPaths.map(\.name) == ["layers.0.weight", "layers.0.bias", "layers.1.weight",
                                                      "bn.weight", "bn.bias"])
        #expect(model.bufferPaths.map(\.name) == ["bn.running_mean", "bn.running_var"])
        #expect(model.parameterCount == 6 + 3 + 3 + 2 + 2)
    }

    @Test("Adam, clipping and resetGradients reach every parameter through the paths")
    func optimiserThroughPaths() {
        var model = Self.makeModel()
        let before = model
        var gradients = model.zeroGradients()
        gradients.layers[1].weight.fill(with: 1)
        gradients.normalization.bias.fill(with: -1)
        var adam = Adam(learningRate: 0.5)
        adam.update(&model, along: gradients)
        // Only parameters with a gradient move, each by lr against its sign.
        assertClose(model.layers[1].weight, before.layers[1].weight - Tensor(shape: [1, 3], repeating: 0.5),
                    name: "layers.1.weight")
        assertClose(model.normalization.bias, Tensor(shape: [2], repeating: 0.5), name: "bn.bias")
        #expect(model.layers[0].weight == before.layers[0].weight)
        #expect(clipGradientNorm(&gradients, of: model, maxNorm: 100) == Float(5.0.squareRoot()))
        model.resetGradients(&gradients)
        #expect(model.parameterPaths.allSatisfy { gradients[keyPath: $0.gradient].maxAbsolute() == 0 })
    }

    @Test("Linear.Cache(input:) is the cache forward builds")
    func linearCache() {
        var generator = SeededGenerator(seed: 111)
        let layer = Linear(inputSize: 3, outputSize: 2, using: &generator)
        let input = Tensor(randomNormal: [2, 4, 3], using: &generator)
        let outputGradient = Tensor(randomNormal: [2, 4, 2], using: &generator)
        var fromForward = layer.zeroGradients(), fromInput = layer.zeroGradients()
        let a = layer.backward(outputGradient, cache: layer.forward(input).cache, into: &fromForward)
        let b = layer.backward(outputGradient, cache: Linear.Cache(input: input), into: &fromInput)
        #expect(a == b && fromForward.weight == fromInput.weight && fromForward.bias == fromInput.bias)
    }
}
