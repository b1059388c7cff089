import ArgumentParser
import Foundation
import GlimpseModel
import GlimpseSafeTensors

struct ImportEncoderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-encoder",
        abstract: "Turn a torchvision ResNet state dict into a Glimpse encoder file.",
        discussion: """
        STATE_DICT.safetensors is torchvision's resnet18, resnet34 or resnet50 as \
        safetensors.torch.save_file(model.state_dict(), ...) writes it (F32, F16 or BF16); \
        Scripts/export_torchvision_resnet.py writes one from torchvision's ImageNet weights. \
        Every BatchNorm is folded into the convolution before it (inference mode), the \
        classifier (fc) is dropped, and the result is checked: a state dict of another \
        network, or a missing, mis-shaped or non-finite tensor, is an error naming it. \
        The encoder file then goes to `glimpse train DATA --encoder encoder.safetensors`.
        """)

    @Argument(help: ArgumentHelp("The torchvision state dict.", valueName: "state-dict.safetensors"))
    var stateDict: String

    @Option(help: ArgumentHelp("The architecture: resnet18, resnet34 or resnet50 (default: read from the tensor names).",
                               valueName: "name"))
    var arch: String?

    @Option(help: ArgumentHelp("The encoder file to write.", valueName: "encoder.safetensors"))
    var out: String

    func validate() throws {
        if let arch, ResNetArchitecture(rawValue: arch) == nil {
            throw ValidationError("--arch must be one of \(ResNetArchitecture.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(arch)\".")
        }
    }

    func run() throws {
        let file = try SafeTensorsFile(contentsOf: stateDict)
        let architecture = try arch.flatMap(ResNetArchitecture.init(rawValue:)) ?? ResNetWeights.architecture(of: file)
        let encoder = try ResNetWeights.importTorchvision(file, architecture: architecture)
        try ResNetWeights.write(encoder, to: out)
        let parameters = encoder.convolutions.reduce(0) { $0 + $1.weight.scalarCount + $1.outputChannels }
        print("\(out): \(architecture.rawValue), \(encoder.convolutions.count) convolutions with BatchNorm folded in, "
              + "\(parameters) parameters, D = \(architecture.featureSize), digest \(ResNetWeights.digest(encoder))")
    }
}
