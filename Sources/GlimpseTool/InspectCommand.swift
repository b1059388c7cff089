import ArgumentParser
import GlimpseData

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what training would use from a dataset.",
        discussion: """
        Prints the layout found, images and captions per split, captions per image, \
        missing or unreadable image files, empty captions dropped and rows skipped, \
        a caption-length histogram, the vocabulary size at the chosen minimum word \
        count, the unknown-word rate and a few example pairs. `glimpse train` runs \
        the same checks first. Exit status 1 when no training image is usable.
        """)

    @OptionGroup var dataset: DatasetOptions

    @Option(help: "Minimum count for a word to enter the vocabulary.")
    var minCount = 5

    @Flag(help: "Only check that image files exist, without reading their headers (faster).")
    var skipImageCheck = false

    @Option(help: "Threads for reading image headers.")
    var threads = 2

    func validate() throws {
        if minCount < 1 { throw ValidationError("--min-count must be at least 1, got \(minCount).") }
        if threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads).") }
    }

    func run() throws {
        let loaded: Dataset
        do { loaded = try dataset.load() } catch {
            Terminal.standardError("glimpse: \(error)")
            throw ExitCode(1)
        }
        let inspection = DatasetInspection.inspect(loaded, minimumWordCount: minCount,
                                                   checkImages: !skipImageCheck, threads: threads)
        for line in inspection.lines() { print(line) }
        if inspection.usableTrainingImages == 0 {
            Terminal.standardError("glimpse: no usable training image in \(loaded.root)")
            throw ExitCode(1)
        }
    }
}
