import Foundation
import GlimpseModel
import GlimpseSafeTensors
import Testing

@Suite("glimpse import-encoder")
struct ImportEncoderCommandTests {
    /// A torchvision-shaped ResNet-18 state dict (every convolution, BatchNorm and the classifier),
    /// with constant values: the command checks names and shapes, not what the weights say.
    static func resnet18StateDict(at path: String) throws {
        var tensors: [String: SafeTensorsWriter.Tensor] = [:]
        func put(_ name: String, _ shape: [Int], _ value: Float) {
            tensors[name] = .float32(ShapedArray(shape: shape, values: [Float](repeating: value, count: shape.reduce(1, *))))
        }
        for layer in ResNetArchitecture.resnet18.convolutions {
            put(layer.name + ".weight", layer.weightShape, 0.01)
            for (field, value) in [("weight", Float(1)), ("bias", 0), ("running_mean", 0.1), ("running_var", 4)] {
                put(layer.batchNormName + "." + field, [layer.outputChannels], value)
            }
            tensors[layer.batchNormName + ".num_batches_tracked"] = .int64(ShapedArray(shape: [], values: [0]))
        }
        put("fc.weight", [1000, 512], 0)
        put("fc.bias", [1000], 0)
        try SafeTensorsWriter.write(tensors, to: path)
    }

    @Test("reads the architecture from the names, folds every BatchNorm, and writes an encoder file")
    func importsResNet18() throws {
        let folder = try ScratchFolder()
        let (stateDict, encoder) = (folder.path + "/resnet18.safetensors", folder.path + "/encoder.safetensors")
        try Self.resnet18StateDict(at: stateDict)
        let outcome = try ToolRunner.run(["import-encoder", stateDict, "--out", encoder], timeout: 120)
        #expect(outcome.status == 0, "\(outcome.standardError)")
        #expect(outcome.standardOutput.contains("resnet18, 20 convolutions with BatchNorm folded in"), "\(outcome.standardOutput)")
        let file = try SafeTensorsFile(contentsOf: encoder)
        #expect(file.metadata["architecture"] == "resnet18" && file.metadata["format"] == ResNetWeights.format)
        #expect(!file.names.contains { $0.hasPrefix("fc.") || $0.contains("bn") })
        // s = 1/√(4 + 1e-5), so W' = 0.01·s and b' = −0.1·s.
        let scale = 1 / (4 + 1e-5).squareRoot()
        #expect(abs(Double(try file.floats(named: "layer4.1.conv2.weight").values[0]) - 0.01 * scale) < 1e-9)
        #expect(abs(Double(try file.floats(named: "conv1.bias").values[63]) + 0.1 * scale) < 1e-8)
    }

    @Test("a state dict of another architecture, or no state dict at all, is refused with the reason")
    func refusals() throws {
        let folder = try ScratchFolder()
        let stateDict = folder.path + "/resnet18.safetensors"
        try Self.resnet18StateDict(at: stateDict)
        let wrong = try ToolRunner.run(["import-encoder", stateDict, "--arch", "resnet50", "--out", folder.path + "/e.safetensors"])
        #expect(wrong.status == 1)
        #expect(wrong.standardError.contains("\(stateDict): these are the weights of resnet18, not resnet50"), "\(wrong.standardError)")
        let other = folder.path + "/other.safetensors"
        try SafeTensorsWriter.write(["features.0.weight": ShapedArray(shape: [1], values: [0])], to: other)
        let notResNet = try ToolRunner.run(["import-encoder", other, "--out", folder.path + "/e.safetensors"])
        #expect(notResNet.status == 1)
        #expect(notResNet.standardError.contains("no torchvision ResNet"), "\(notResNet.standardError)")
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/e.safetensors"))
    }
}
