import Foundation
import GlimpseLayers
import GlimpseSafeTensors
import GlimpseTensor
import GlimpseTestSupport
import Testing

/// Every layer against PyTorch: Scripts/reference_layers.py built each one with a
/// fixed seed, ran forward and backward in float64 and stored inputs, parameters,
/// outputs and gradients (float32) in Fixtures/layers.safetensors. Forward values
/// must agree within 1e-4 relative, gradients within 1e-3.
@Suite("Layers agree with PyTorch, tensor by tensor")
struct PyTorchReferenceTests {
    static let fixturePath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/layers.safetensors").path
    let fixture: SafeTensorsFile

    init() throws {
        fixture = try SafeTensorsFile(contentsOf: Self.fixturePath)
    }

    func tensor(_ name: String) throws -> Tensor {
        let array = try fixture.floats(named: name)
        return Tensor(shape: array.shape, scalars: array.values)
    }

    func integers(_ name: String) throws -> [Int] {
        try fixture.int64s(named: name).values.map { Int($0) }
    }

    /// Sets every parameter and buffer of `layer` from `<case>.param.<name>`.
    func load<Layer: Parameterized>(_ layer: inout Layer, _ name: String) throws {
        for path in layer.parameterPaths {
            layer[keyPath: path.parameter] = try tensor("\(name).param.\(path.name)")
        }
        for buffer in layer.bufferPaths {
            layer[keyPath: buffer.buffer] = try tensor("\(name).param.\(buffer.name)")
        }
    }

    func checkForward(_ actual: Tensor, _ name: String) throws {
        assertClose(actual, try tensor(name), absoluteTolerance: 1e-6, relativeTolerance: 1e-4, name: name)
    }

    func checkGradient(_ actual: Tensor, _ name: String) throws {
        assertClose(actual, try tensor(name), absoluteTolerance: 1e-6, relativeTolerance: 1e-3, name: name)
    }

    func checkParameterGradients<Layer: Parameterized>(_ gradients: Layer.Gradients, of layer: Layer, _ name: String) throws {
        for path in layer.parameterPaths {
            try checkGradient(gradients[keyPath: path.gradient], "\(name).grad.param.\(path.name)")
        }
    }

    @Test("the fixture is the one the reference script wrote")
    func fixtureProvenance() {
        #expect(fixture.metadata["generator"] == "Scripts/reference_layers.py")
        #expect(fixture.names.count > 100)
    }

    @Test("Linear")
    func linear() throws {
        var layer = Linear(weight: Tensor(zeros: [4, 5]), bias: Tensor(zeros: [4]))
        try load(&layer, "linear")
        let (output, cache) = layer.forward(try tensor("linear.input"))
        try checkForward(output, "linear.output")
        var gradients = layer.zeroGradients()
        let inputGradient = layer.backward(try tensor("linear.grad_output"), cache: cache, into: &gradients)
        try checkGradient(inputGradient, "linear.grad.input")
        try checkParameterGradients(gradients, of: layer, "linear")
    }

    @Test("Conv2d, 3x3 padding 1 and a general kernel with stride and bias", arguments: [
        ("conv3x3", 1, 1), ("conv_general", 2, 0),
    ])
    func convolution(_ name: String, _ stride: Int, _ padding: Int) throws {
        let weight = try tensor("\(name).param.weight")
        let bias = fixture.entry(named: "\(name).param.bias") == nil ? nil : try tensor("\(name).param.bias")
        let layer = Conv2d(weight: weight, bias: bias, stride: stride, padding: padding)
        let (output, cache) = layer.forward(try tensor("\(name).input"))
        try checkForward(output, "\(name).output")
        var gradients = layer.zeroGradients()
        let inputGradient = layer.backward(try tensor("\(name).grad_output"), cache: cache, into: &gradients)
        try checkGradient(inputGradient, "\(name).grad.input")
        try checkParameterGradients(gradients, of: layer, name)
    }

    @Test("BatchNorm2d in training: batch statistics, and the running statistics it leaves behind")
    func batchNormTraining() throws {
        var layer = BatchNorm2d(channels: 3)
        try load(&layer, "batchnorm_train")
        layer.runningMean = try tensor("batchnorm_train.running_mean_before")
        layer.runningVariance = try tensor("batchnorm_train.running_var_before")
        let (output, cache) = layer.forward(try tensor("batchnorm_train.input"), mode: .training)
        try checkForward(output, "batchnorm_train.output")
        try checkForward(layer.runningMean, "batchnorm_train.param.running_mean")
        try checkForward(layer.runningVariance, "batchnorm_train.param.running_var")
        var gradients = layer.zeroGradients()
        let inputGradient = layer.backward(try tensor("batchnorm_train.grad_output"), cache: cache, into: &gradients)
        try checkGradient(inputGradient, "batchnorm_train.grad.input")
        try checkParameterGradients(gradients, of: layer, "batchnorm_train")
    }

    @Test("BatchNorm2d in inference: running statistics")
    func batchNormInference() throws {
        var layer = BatchNorm2d(channels: 3)
        try load(&layer, "batchnorm_eval")
        let input = try tensor("batchnorm_eval.input")
        try checkForward(layer(input), "batchnorm_eval.output")
        let (output, cache) = layer.forward(input, mode: .inference)
        try checkForward(output, "batchnorm_eval.output")
        var gradients = layer.zeroGradients()
        let inputGradient = layer.backward(try tensor("batchnorm_eval.grad_output"), cache: cache, into: &gradients)
        try checkGradient(inputGradient, "batchnorm_eval.grad.input")
        try checkParameterGradients(gradients, of: layer, "batchnorm_eval")
    }

    @Test("ReLU and MaxPool2d")
    func reluAndPooling() throws {
        let relu = ReLU()
        let (activated, reluCache) = relu.forward(try tensor("relu.input"))
        try checkForward(activated, "relu.output")
        try checkGradient(relu.backward(try tensor("relu.grad_output"), cache: reluCache), "relu.grad.input")

        let pool = MaxPool2d()
        let (pooled, poolCache) = pool.forward(try tensor("maxpool.input"))
        try checkForward(pooled, "maxpool.output")
        try checkGradient(pool.backward(try tensor("maxpool.grad_output"), cache: poolCache), "maxpool.grad.input")
    }

    @Test("Embedding, with repeated indices adding up")
    func embedding() throws {
        var layer = Embedding(weight: Tensor(zeros: [7, 4]))
        try load(&layer, "embedding")
        let indices = try integers("embedding.indices")
        let (output, cache) = layer.forward(indices)
        try checkForward(output.reshaped(to: [2, 3, 4]), "embedding.output")
        var gradients = layer.zeroGradients()
        layer.backward(try tensor("embedding.grad_output").reshaped(to: [6, 4]), cache: cache, into: &gradients)
        try checkParameterGradients(gradients, of: layer, "embedding")
    }

    @Test("LSTMCell: gates i, f, g, o in PyTorch's layout")
    func lstmCell() throws {
        var layer = LSTMCell(inputWeight: Tensor(zeros: [16, 5]), recurrentWeight: Tensor(zeros: [16, 4]),
                             inputBias: Tensor(zeros: [16]), recurrentBias: Tensor(zeros: [16]))
        try load(&layer, "lstm_cell")
        let state = LSTMCell.State(hidden: try tensor("lstm_cell.hidden"), cell: try tensor("lstm_cell.cell"))
        let (next, cache) = layer.forward(try tensor("lstm_cell.input"), state: state)
        try checkForward(next.hidden, "lstm_cell.output.hidden")
        try checkForward(next.cell, "lstm_cell.output.cell")
        var gradients = layer.zeroGradients()
        let upstream = LSTMCell.State(hidden: try tensor("lstm_cell.grad_output.hidden"),
                                      cell: try tensor("lstm_cell.grad_output.cell"))
        let (inputGradient, stateGradient) = layer.backward(upstream, cache: cache, into: &gradients)
        try checkGradient(inputGradient, "lstm_cell.grad.input")
        try checkGradient(stateGradient.hidden, "lstm_cell.grad.hidden")
        try checkGradient(stateGradient.cell, "lstm_cell.grad.cell")
        try checkParameterGradients(gradients, of: layer, "lstm_cell")
    }

    @Test("Soft attention: gated context and weights, with the feature projection computed once")
    func attention() throws {
        func linear(_ output: Int, _ input: Int) -> Linear { Linear(weight: Tensor(zeros: [output, input]), bias: Tensor(zeros: [output])) }
        var layer = SoftAttention(encoderAttention: linear(3, 6), decoderAttention: linear(3, 4),
                                  fullAttention: linear(1, 3), gate: linear(6, 4))
        try load(&layer, "attention")
        let features = try tensor("attention.features"), hidden = try tensor("attention.hidden")
        let (projected, projectionCache) = layer.forwardProjection(features)
        let (output, cache) = layer.forward(features: features, projectedFeatures: projected, hidden: hidden)
        try checkForward(output.context, "attention.output")
        try checkForward(output.weights, "attention.output.alpha")

        var gradients = layer.zeroGradients()
        var featureGradients = layer.zeroFeatureGradients(for: projectionCache)
        let hiddenGradient = layer.backward(try tensor("attention.grad_output"),
                                            weightsGradient: try tensor("attention.grad_output.alpha"),
                                            cache: cache, into: &gradients, accumulatingInto: &featureGradients)
        let featuresGradient = layer.backwardProjection(featureGradients, cache: projectionCache, into: &gradients)
        try checkGradient(hiddenGradient, "attention.grad.hidden")
        try checkGradient(featuresGradient, "attention.grad.features")
        try checkParameterGradients(gradients, of: layer, "attention")
    }

    @Test("Softmax cross-entropy ignoring the padding index")
    func crossEntropy() throws {
        let loss = SoftmaxCrossEntropy(ignoredIndex: 0)
        let (value, counted, gradient) = loss.lossAndGradient(logits: try tensor("cross_entropy.input"),
                                                               targets: try integers("cross_entropy.targets"))
        #expect(counted == 4)
        try checkForward(Tensor(shape: [1], scalars: [value]), "cross_entropy.output")
        try checkGradient(gradient, "cross_entropy.grad.input")
    }

    @Test("Adam with weight decay after global gradient-norm clipping, three steps")
    func adam() throws {
        var model = Linear(weight: try tensor("adam.param.weight"), bias: try tensor("adam.param.bias"))
        var optimizer = Adam(learningRate: 0.01, weightDecay: 0.05)
        for step in 0..<3 {
            var gradients = model.zeroGradients()
            gradients.weight = try tensor("adam.step\(step).grad.weight")
            gradients.bias = try tensor("adam.step\(step).grad.bias")
            let norm = clipGradientNorm(&gradients, of: model, maxNorm: 2)
            try checkForward(Tensor(shape: [1], scalars: [norm]), "adam.step\(step).norm")
            try checkGradient(gradients.weight, "adam.step\(step).clipped.weight")
            try checkGradient(gradients.bias!, "adam.step\(step).clipped.bias")
            optimizer.update(&model, along: gradients)
            try checkForward(model.weight, "adam.step\(step).param.weight")
            try checkForward(model.bias!, "adam.step\(step).param.bias")
        }
    }
}
