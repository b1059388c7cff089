import ArgumentParser
import GlimpseData
import GlimpseTraining

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what training would use from a dataset.",
        discussion: """
        Prints the layout found, images and captions per split, captions per image, \
        missing or unreadable image files, empty captions dropped and rows skipped, \
        a caption-length histogram, the vocabulary `glimpse train` will build (the \
        minimum word count it will use, and why when it is not the default), the \
        unknown-word rates, a few example pairs, and warnings about splits too small \
        to train on or to measure. `glimpse train` runs the same checks first and \
        makes the same vocabulary. Exit status 1 when no training image is usable.
        """)

    @OptionGroup var dataset: DatasetOptions

    @Option(help: """
        Minimum count for a word to enter the vocabulary, as given to `glimpse train`. When not given: \
        what train does without it (5, lowered down to 1 while more than 5% of the training words would be <unk>).
        """)
    var minCount: Int?

    @Flag(help: "Only check that image files exist, without reading their headers (faster).")
    var skipImageCheck = false

    @Option(help: "Threads for reading image headers.")
    var threads = 2

    func validate() throws {
        if let minCount, minCount < 1 { throw ValidationError("--min-count must be at least 1, got \(minCount).") }
        if threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads).") }
    }

    func run() throws {
        let loaded: Dataset
        do { loaded = try dataset.load() } catch {
            Terminal.standardError("glimpse: \(error)")
            throw ExitCode(1)
        }
        // The rule `glimpse train` would follow with the same --min-count.
        var options = TrainingOptions()
        options.setMinimumWordCount(minCount)
        let inspection = DatasetInspection.inspect(loaded, vocabularyRule: options.vocabularyRule,
                                                   checkImages: !skipImageCheck, threads: threads)
        for line in inspection.lines() { print(line) }
        if inspection.usableTrainingImages == 0 {
            Terminal.standardError("glimpse: no usable training image in \(loaded.root)")
            throw ExitCode(1)
        }
    }
}
