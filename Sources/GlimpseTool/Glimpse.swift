import ArgumentParser
import GlimpseTensor

@main
struct Glimpse: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "glimpse",
        abstract: "Image captioning on the CPU: caption photos, train on captioned folders, caption whole directories.",
        version: GlimpseVersion.string,
        subcommands: [CaptionCommand.self, BatchCommand.self, TrainCommand.self, EvaluateCommand.self, ScoreCommand.self,
                      InfoCommand.self, InspectCommand.self, SynthCommand.self, ImportCommand.self, ExportCommand.self]
    )

    /// Picks OpenBLAS's kernels from the CPU's features before anything else runs (see
    /// `BLAS.selectKernels`, in-process; GLIMPSE_BLAS_KERNELS overrides it), then parses and runs the command.
    static func main() {
        BLAS.selectKernels()
        main(nil)
    }
}

enum GlimpseVersion {
    static let string = "0.1.0"
}
