import ArgumentParser
import GlimpseSynth

struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Write a synthetic captioned dataset of simple shapes (Flickr8k Kaggle layout).",
        discussion: """
        Scenes of one to three shapes (circle, square, triangle, diamond, star; eight \
        colours; two sizes) on varied backgrounds, placed on the left, right, top, \
        bottom or in the middle, or related to each other (to the left of, above, ...), \
        each with five differently phrased captions. JPEG and PNG files of varying size \
        and aspect ratio in OUT_DIR/Images, captions in OUT_DIR/captions.txt, and each \
        image's ground truth (objects with shape, colour, size and position; the relation) \
        in OUT_DIR/ground_truth.jsonl, which `glimpse evaluate` and `glimpse train` use for \
        the content scores. The same seed always gives the same dataset, and a larger \
        count extends it.
        """)

    @Argument(help: "The folder to write.")
    var outputDirectory: String

    @Option(help: "Number of images.")
    var count = 1000

    @Option(help: "Random seed.")
    var seed: UInt64 = 1

    func validate() throws {
        if count < 1 { throw ValidationError("--count must be at least 1, got \(count).") }
    }

    func run() throws {
        let progress = ProgressReporter("synth", total: count, unit: "images")
        do {
            try SyntheticDataset(count: count, seed: seed).write(to: outputDirectory) { done, _ in progress.update(done) }
        } catch {
            Terminal.standardError("glimpse: \(error)")
            throw ExitCode(1)
        }
        progress.finish("wrote \(count) images, \(count * 5) captions and their ground truth to \(outputDirectory)")
    }
}
