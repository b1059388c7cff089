import ArgumentParser
import GlimpseData
import GlimpseImage
import GlimpseSupport

extension DatasetFormat: ExpressibleByArgument {}

/// How a DATA_DIR is read: shared by inspect, train, evaluate and score.
struct DatasetOptions: ParsableArguments {
    @Argument(help: "The dataset: a folder (or its captions file) in a layout Glimpse reads.")
    var dataDirectory: String

    @Option(help: ArgumentHelp("Force the dataset layout instead of detecting it.",
                               valueName: DatasetFormat.allCases.map(\.rawValue).joined(separator: "|")))
    var format: DatasetFormat?

    @Option(name: .customLong("split-seed"), help: "Seed of the 90/5/5 split for datasets without splits of their own.")
    var splitSeed: UInt64 = 0

    func load() throws -> Dataset {
        do {
            return try DatasetLoader(splitter: DatasetSplitter(seed: splitSeed)).load(dataDirectory, format: format)
        } catch {
            throw ToolFailure(error.description)
        }
    }
}

/// A failure already explained in words: printed as `glimpse: <message>`, exit status 1.
struct ToolFailure: Error, CustomStringConvertible {
    let message: String
    /// Names held with `FileName`'s escapes are shown as `\xNN`.
    init(_ message: String) { self.message = FileName.shown(message) }
    var description: String { message }
}
