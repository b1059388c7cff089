import Foundation
import GlimpseLayers
import GlimpseSafeTensors
import GlimpseSupport
import GlimpseTensor

/// ResNet weights in and out: torchvision state dicts (saved as safetensors) in, and
/// Glimpse's encoder files, the folded convolutions under torchvision's names, in and out.
///
///     let file = try SafeTensorsFile(contentsOf: "resnet50.safetensors")
///     let encoder = try ResNetWeights.importTorchvision(file, architecture: .resnet50)
///     try ResNetWeights.write(encoder, to: "encoder.safetensors")
public enum ResNetWeights {
    /// `__metadata__["format"]` of an encoder file.
    public static let format = "glimpse-resnet-encoder"
    /// BatchNorm's ε in torchvision's ResNets.
    public static let batchNormEpsilon = 1e-5

    /// The encoder from a torchvision ResNet state dict (`model.state_dict()` saved with
    /// `safetensors.torch.save_file`; F32, F16 or BF16). Every convolution and BatchNorm tensor
    /// must be present with torchvision's shape; `fc.*` (the classifier), `num_batches_tracked`
    /// and a `module.` prefix (DataParallel) are ignored. A state dict of another ResNet is
    /// named as such.
    public static func importTorchvision(_ file: SafeTensorsFile, architecture: ResNetArchitecture,
                                         gridSize: Int = 7) throws(CheckpointError) -> ResNetEncoder {
        let prefix = file.names.allSatisfy { $0.hasPrefix("module.") } ? "module." : ""
        let names = Set(file.names.map { String($0.dropFirst(prefix.count)) })
        let found = describeResNet(names: names)
        guard found == architecture.rawValue else {
            throw CheckpointError(path: file.path, reason: .wrongArchitecture(
                expected: architecture.rawValue, found: found ?? "no torchvision ResNet (no layer1.0.conv1.weight)"))
        }
        let layout = architecture.convolutions
        var known = Set(["fc.weight", "fc.bias"])
        var convolutions: [Conv2d] = []
        for spec in layout {
            let weight = try floats(file, prefix + spec.name + ".weight", shape: spec.weightShape)
            var statistics: [[Float]] = []
            for field in ["weight", "bias", "running_mean", "running_var"] {
                statistics.append(try floats(file, prefix + spec.batchNormName + "." + field, shape: [spec.outputChannels]))
            }
            known.formUnion([spec.name + ".weight", spec.batchNormName + ".num_batches_tracked"])
            known.formUnion(["weight", "bias", "running_mean", "running_var"].map { spec.batchNormName + "." + $0 })
            convolutions.append(fold(weight, spec: spec, gamma: statistics[0], beta: statistics[1],
                                     mean: statistics[2], variance: statistics[3]))
        }
        if let unexpected = names.subtracting(known).sorted().first {
            throw CheckpointError(path: file.path, reason: .unexpectedTensor(prefix + unexpected))
        }
        return ResNetEncoder(architecture: architecture, gridSize: gridSize, convolutions: convolutions)
    }

    /// The architecture a torchvision state dict's names say it is; a state dict of no
    /// supported ResNet is an error saying what it is.
    public static func architecture(of file: SafeTensorsFile) throws(CheckpointError) -> ResNetArchitecture {
        let prefix = file.names.allSatisfy { $0.hasPrefix("module.") } ? "module." : ""
        let found = describeResNet(names: Set(file.names.map { String($0.dropFirst(prefix.count)) }))
        guard let found, let architecture = ResNetArchitecture(rawValue: found) else {
            throw CheckpointError(path: file.path, reason: .wrongArchitecture(
                expected: "resnet18, resnet34 or resnet50", found: found ?? "no torchvision ResNet (no layer1.0.conv1.weight)"))
        }
        return architecture
    }

    /// W' = W·s, b' = β − μ·s with s = γ/√(σ² + ε), in Double.
    static func fold(_ weight: [Float], spec: ResNetConvolution, gamma: [Float], beta: [Float], mean: [Float],
                     variance: [Float]) -> Conv2d {
        let perOutput = weight.count / spec.outputChannels
        var folded = weight
        var bias = [Float](repeating: 0, count: spec.outputChannels)
        for output in 0..<spec.outputChannels {
            let scale = Double(gamma[output]) / (Double(variance[output]) + batchNormEpsilon).squareRoot()
            for index in (output * perOutput)..<((output + 1) * perOutput) { folded[index] = Float(Double(weight[index]) * scale) }
            bias[output] = Float(Double(beta[output]) - Double(mean[output]) * scale)
        }
        return Conv2d(weight: Tensor(shape: spec.weightShape, scalars: folded),
                      bias: Tensor(shape: [spec.outputChannels], scalars: bias), stride: spec.stride, padding: spec.padding)
    }

    /// An encoder file: `conv1.weight`, `conv1.bias`, `layer1.0.conv1.weight`, … (folded, F32),
    /// with the architecture and `digest` in its metadata. Written atomically.
    public static func write(_ encoder: ResNetEncoder, to path: String) throws(CheckpointError) {
        let metadata = ["format": format, "architecture": encoder.architecture.rawValue, "digest": digest(encoder)]
        do {
            try SafeTensorsWriter.write(foldedTensors(encoder), metadata: metadata, to: path)
        } catch {
            throw CheckpointError(path: path, reason: .file(error.description))
        }
    }

    /// The folded convolutions by name: `prefix` + torchvision's convolution name + `.weight` / `.bias`.
    public static func foldedTensors(_ encoder: ResNetEncoder, prefix: String = "") -> [String: ShapedArray<Float>] {
        var tensors: [String: ShapedArray<Float>] = [:]
        for (spec, layer) in zip(encoder.architecture.convolutions, encoder.convolutions) {
            tensors[prefix + spec.name + ".weight"] = ShapedArray(shape: layer.weight.shape, values: layer.weight.scalars)
            tensors[prefix + spec.name + ".bias"] = ShapedArray(shape: [spec.outputChannels], values: layer.bias!.scalars)
        }
        return tensors
    }

    /// The names `foldedTensors` uses, without copying any tensor.
    public static func foldedNames(_ architecture: ResNetArchitecture, prefix: String = "") -> [String] {
        architecture.convolutions.flatMap { [prefix + $0.name + ".weight", prefix + $0.name + ".bias"] }
    }

    /// Reads an encoder file written by `write`: nothing but the architecture's folded tensors.
    public static func read(_ file: SafeTensorsFile, gridSize: Int = 7) throws(CheckpointError) -> ResNetEncoder {
        guard let found = file.metadata["format"] else { throw CheckpointError(path: file.path, reason: .missingMetadata(key: "format")) }
        guard found == format else { throw CheckpointError(path: file.path, reason: .unsupportedFormat(found: found)) }
        guard let name = file.metadata["architecture"] else {
            throw CheckpointError(path: file.path, reason: .missingMetadata(key: "architecture"))
        }
        guard let architecture = ResNetArchitecture(rawValue: name) else {
            throw CheckpointError(path: file.path, reason: .badMetadata(
                key: "architecture", problem: "\"\(name)\" is not one of \(ResNetArchitecture.allCases.map(\.rawValue))"))
        }
        let encoder = try readFolded(file, prefix: "", architecture: architecture, gridSize: gridSize)
        let known = Set(foldedNames(architecture))
        if let unexpected = file.names.filter({ !known.contains($0) }).sorted().first {
            throw CheckpointError(path: file.path, reason: .unexpectedTensor(unexpected))
        }
        return encoder
    }

    /// The folded convolutions of `architecture` under `prefix` (an encoder file's, or a checkpoint's).
    static func readFolded(_ file: SafeTensorsFile, prefix: String, architecture: ResNetArchitecture,
                           gridSize: Int) throws(CheckpointError) -> ResNetEncoder {
        var convolutions: [Conv2d] = []
        for spec in architecture.convolutions {
            let weight = try floats(file, prefix + spec.name + ".weight", shape: spec.weightShape)
            let bias = try floats(file, prefix + spec.name + ".bias", shape: [spec.outputChannels])
            convolutions.append(Conv2d(weight: Tensor(shape: spec.weightShape, scalars: weight),
                                       bias: Tensor(shape: [spec.outputChannels], scalars: bias),
                                       stride: spec.stride, padding: spec.padding))
        }
        return ResNetEncoder(architecture: architecture, gridSize: gridSize, convolutions: convolutions)
    }

    /// 16 hex digits of FNV-1a over the architecture's name and every folded tensor's
    /// little-endian bytes in layout order: what feature caches and checkpoints key on. With
    /// `stage` (1 … 4), only the stem's and the stages' before it: the frozen weights of a model
    /// whose later stages train.
    public static func digest(_ encoder: ResNetEncoder, frozenBefore stage: Int? = nil) -> String {
        var hash = FNV1a.hash(Array(encoder.architecture.rawValue.utf8))
        let count = stage.map { encoder.architecture.convolutionCount(before: $0) } ?? encoder.architecture.convolutions.count
        for layer in encoder.convolutions.prefix(count) {
            for tensor in [layer.weight, layer.bias!] {
                tensor.withUnsafeBufferPointer { values in
                    for value in values {
                        var bits = value.bitPattern.littleEndian
                        for _ in 0..<4 {
                            hash ^= UInt64(bits & 0xFF)
                            hash &*= 0x0000_0100_0000_01B3
                            bits >>= 8
                        }
                    }
                }
            }
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Which torchvision ResNet a state dict's names are: "resnet18", "resnet50", …, "a ResNet
    /// with Bottleneck blocks [3, 4, 23, 3] (resnet101)", or nil when there is no `layer1.0.conv1.weight`.
    static func describeResNet(names: Set<String>) -> String? {
        guard names.contains("layer1.0.conv1.weight") else { return nil }
        let bottleneck = names.contains("layer1.0.conv3.weight")
        let counts = (1...4).map { stage in
            var count = 0
            while names.contains("layer\(stage).\(count).conv1.weight") { count += 1 }
            return count
        }
        if let known = ResNetArchitecture.allCases.first(where: { $0.usesBottleneck == bottleneck && $0.blockCounts == counts }) {
            return known.rawValue
        }
        let others = [[3, 4, 23, 3]: "resnet101", [3, 8, 36, 3]: "resnet152"]
        let name = bottleneck ? others[counts].map { " (\($0), not supported)" } ?? "" : ""
        return "a ResNet with \(bottleneck ? "Bottleneck" : "Basic") blocks \(counts)\(name)"
    }

    /// A float tensor of `shape`, finite throughout.
    private static func floats(_ file: SafeTensorsFile, _ name: String, shape: [Int]) throws(CheckpointError) -> [Float] {
        guard let entry = file.entry(named: name) else { throw CheckpointError(path: file.path, reason: .missingTensor(name)) }
        guard SafeTensorsDType.floatingPoint.contains(entry.dtype) else {
            throw CheckpointError(path: file.path, reason: .wrongDType(tensor: name, found: entry.dtype.rawValue))
        }
        guard entry.shape == shape else {
            throw CheckpointError(path: file.path, reason: .wrongShape(tensor: name, expected: shape, found: entry.shape))
        }
        let values: [Float]
        do { values = try file.floats(named: name).values } catch { throw CheckpointError(path: file.path, reason: .file(error.description)) }
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw CheckpointError(path: file.path, reason: .nonFinite(tensor: name, index: bad, value: values[bad]))
        }
        return values
    }
}
