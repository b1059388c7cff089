// How every layer in GlimpseLayers is shaped (after llm.c and neuraltalk):
//
// - a struct holding its parameters in PyTorch layouts, conforming to
//   `Parameterized` when it has any;
// - `forward(_:) -> (output, cache)` for training, where `Cache` holds exactly what
//   backward needs, every field with its shape; `callAsFunction` for inference,
//   building no cache;
// - `backward(_:cache:into:) -> input gradient`, which adds (+=) into a
//   `Gradients` of the same fields as the parameters, so gradients accumulate over
//   time steps and are zeroed once per step with `resetGradients`;
// - mode (training / inference) and random generators passed in, never global.
//
// Shape letters: B batch, P grid locations, D feature size, E embedding,
// A attention, H hidden, V vocabulary, T time; C and O channels in and out.

import GlimpseTensor

/// Whether a layer runs for training (batch statistics, dropout on) or inference.
/// Passed explicitly to every layer that behaves differently, never read from a global.
public enum Mode: Sendable {
    case training
    case inference
}

/// A trainable tensor of a layer, named as in PyTorch's `state_dict`, together with
/// where its gradient lives in the layer's `Gradients`.
public struct ParameterPath<Layer: Parameterized> {
    /// The PyTorch name, e.g. `"weight"` or, once nested, `"decoder_att.weight"`.
    public let name: String
    public let parameter: WritableKeyPath<Layer, Tensor>
    public let gradient: WritableKeyPath<Layer.Gradients, Tensor>

    public init(name: String, parameter: WritableKeyPath<Layer, Tensor>,
                gradient: WritableKeyPath<Layer.Gradients, Tensor>) {
        self.name = name
        self.parameter = parameter
        self.gradient = gradient
    }

    /// The same parameter seen from a layer that holds this one as `prefix`.
    public func nested<Outer: Parameterized>(
        in layer: WritableKeyPath<Outer, Layer>,
        gradients: WritableKeyPath<Outer.Gradients, Layer.Gradients>,
        prefix: String
    ) -> ParameterPath<Outer> {
        ParameterPath<Outer>(name: prefix + "." + name,
                             parameter: layer.appending(path: parameter),
                             gradient: gradients.appending(path: gradient))
    }
}

/// A layer with trainable parameters. Optimisers, gradient clipping, checkpoints and
/// the gradient checker see a layer only through this table.
public protocol Parameterized {
    /// One tensor per parameter, same names and shapes, accumulated by `backward`.
    associatedtype Gradients

    /// Every parameter, in a fixed order.
    var parameterPaths: [ParameterPath<Self>] { get }

    /// Non-trainable state saved in checkpoints (BatchNorm's running statistics),
    /// by PyTorch name.
    var bufferPaths: [(name: String, buffer: WritableKeyPath<Self, Tensor>)] { get }

    /// Gradients of zeros, shaped like the parameters.
    func zeroGradients() -> Gradients
}

extension Parameterized {
    public var bufferPaths: [(name: String, buffer: WritableKeyPath<Self, Tensor>)] { [] }

    /// Zeroes gradients in place, keeping their storage (no allocation per step).
    public func resetGradients(_ gradients: inout Gradients) {
        for path in parameterPaths { gradients[keyPath: path.gradient].zero() }
    }

    /// This layer's parameters seen from a layer that holds it as `prefix`
    /// (names become "prefix.weight", ...).
    public func parameterPaths<Outer: Parameterized>(
        nestedIn layer: WritableKeyPath<Outer, Self>, gradients: WritableKeyPath<Outer.Gradients, Gradients>,
        prefix: String
    ) -> [ParameterPath<Outer>] {
        parameterPaths.map { $0.nested(in: layer, gradients: gradients, prefix: prefix) }
    }

    /// This layer's buffers seen from a layer that holds it as `prefix`.
    public func bufferPaths<Outer>(nestedIn layer: WritableKeyPath<Outer, Self>, prefix: String)
        -> [(name: String, buffer: WritableKeyPath<Outer, Tensor>)] {
        bufferPaths.map { (name: prefix + "." + $0.name, buffer: layer.appending(path: $0.buffer)) }
    }

    /// The total number of trainable scalars.
    public var parameterCount: Int {
        parameterPaths.reduce(0) { $0 + self[keyPath: $1.parameter].scalarCount }
    }
}
