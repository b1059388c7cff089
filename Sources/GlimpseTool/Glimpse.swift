import ArgumentParser

@main
struct Glimpse: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "glimpse",
        abstract: "Image captioning on the CPU: caption photos, train on captioned folders, caption whole directories.",
        version: GlimpseVersion.string,
        subcommands: [CaptionCommand.self, BatchCommand.self, TrainCommand.self, EvaluateCommand.self, ScoreCommand.self,
                      InfoCommand.self, InspectCommand.self, SynthCommand.self, ImportCommand.self, ExportCommand.self]
    )
}

enum GlimpseVersion {
    static let string = "0.1.0"
}
