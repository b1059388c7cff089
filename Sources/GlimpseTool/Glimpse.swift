import ArgumentParser

@main
struct Glimpse: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "glimpse",
        abstract: "Image captioning on the CPU: caption photos, train on captioned folders, caption whole directories.",
        version: GlimpseVersion.string,
        subcommands: [InfoCommand.self, InspectCommand.self, SynthCommand.self, ScoreCommand.self, TrainCommand.self]
    )
}

enum GlimpseVersion {
    static let string = "0.1.0"
}
