import ArgumentParser
import GlimpseTensor

@main
struct Glimpse: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "glimpse",
        abstract: "Image captioning on the CPU: caption photos, train on captioned folders, caption whole directories.",
        version: GlimpseVersion.string,
        subcommands: [InfoCommand.self, InspectCommand.self, SynthCommand.self, ScoreCommand.self]
    )

    /// Picks OpenBLAS's kernels before anything else runs (see `BLAS.preferHaswellKernelsOnAMD`;
    /// setting OPENBLAS_CORETYPE yourself overrides it), then parses and runs the command.
    static func main() {
        BLAS.preferHaswellKernelsOnAMD()
        main(nil)
    }
}

enum GlimpseVersion {
    static let string = "0.1.0"
}
