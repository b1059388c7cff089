import ArgumentParser
import Foundation
import GlimpseData
import GlimpseImage
import GlimpseModel
import GlimpseSupport
import GlimpseText

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Turn a PyTorch state dict (and its vocabulary) into a Glimpse model.",
        discussion: """
        STATE_DICT.safetensors holds the weights of the equivalent PyTorch module \
        (Scripts/reference_model.py), as safetensors.torch.save_file(model.state_dict(), ...) \
        writes them: F32, F16 or BF16; BatchNorm's num_batches_tracked counters are ignored. \
        The sizes are read from the shapes (stages and channels, E, A, H, V); what shapes \
        cannot tell comes from the options. Any missing, unexpected or mis-shaped tensor, \
        or a vocabulary whose size is not V, is an error naming it.
        """)

    @Argument(help: ArgumentHelp("The PyTorch state dict.", valueName: "state-dict.safetensors"))
    var stateDict: String

    @Option(help: ArgumentHelp("The vocabulary: one token per line in id order, <pad> <start> <end> <unk> first.",
                               valueName: "vocab.txt"))
    var vocab: String

    @Option(help: ArgumentHelp("The Glimpse model to write.", valueName: "model.safetensors"))
    var out: String

    @Option(help: "The model's input side S in pixels (not in the shapes).")
    var imageSize = 128

    @Option(help: "Dropout before the output layer, for further training.")
    var dropout: Float = 0.5

    @Option(help: "λ, the attention regularisation weight, for further training.")
    var attentionRegularization: Float = 1

    @Option(help: ArgumentHelp("Per-channel mean of the input normalisation.", valueName: "r,g,b"))
    var mean: String = Preprocessing.imageNetMean.map { String($0) }.joined(separator: ",")

    @Option(help: ArgumentHelp("Per-channel standard deviation of the input normalisation.", valueName: "r,g,b"))
    var std: String = Preprocessing.imageNetStd.map { String($0) }.joined(separator: ",")

    /// "r,g,b" as three finite floats.
    static func triple(_ text: String, flag: String) throws -> [Float] {
        let values = text.split(separator: ",", omittingEmptySubsequences: false)
            .map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard values.count == 3, let r = values[0], let g = values[1], let b = values[2],
              [r, g, b].allSatisfy(\.isFinite) else {
            throw ValidationError("\(flag) takes three numbers r,g,b, got \"\(text)\".")
        }
        return [r, g, b]
    }

    func validate() throws {
        if imageSize < 1 { throw ValidationError("--image-size must be positive, got \(imageSize).") }
        if !(dropout >= 0 && dropout < 1) { throw ValidationError("--dropout must be in [0, 1), got \(dropout).") }
        if !(attentionRegularization >= 0 && attentionRegularization.isFinite) {
            throw ValidationError("--attention-regularization must be 0 or more, got \(attentionRegularization).")
        }
        _ = try Self.triple(mean, flag: "--mean")
        if try Self.triple(std, flag: "--std").contains(where: { $0 <= 0 }) {
            throw ValidationError("--std values must be positive, got \(std).")
        }
    }

    func run() throws {
        do {
            let vocabulary = try VocabularyFile.read(vocab)
            let options = StateDictionary.ImportOptions(
                imageSize: imageSize, dropout: dropout, attentionRegularization: attentionRegularization,
                mean: try Self.triple(mean, flag: "--mean"), std: try Self.triple(std, flag: "--std"))
            let checkpoint = try StateDictionary.importCheckpoint(contentsOf: stateDict, vocabulary: vocabulary, options: options)
            try checkpoint.write(to: out)
            let c = checkpoint.model.configuration
            print("\(out): S \(c.imageSize), stages \(c.stageChannels), E \(c.embeddingSize), A \(c.attentionSize), "
                  + "H \(c.hiddenSize), V \(c.vocabularySize), dropout \(c.dropout), λ \(c.attentionRegularization)")
        } catch {
            Terminal.standardError("glimpse: \(error)")
            throw ExitCode(1)
        }
    }
}

/// The vocabulary file format (one token per line), read and written with errors naming the file.
enum VocabularyFile {
    static func read(_ path: String) throws -> Vocabulary {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ToolFailure("\(path): cannot read the vocabulary: \((error as NSError).localizedDescription)")
        }
        do {
            return try Vocabulary(fileContents: text)
        } catch {
            throw ToolFailure("\(path): \(error)")
        }
    }

    static func write(_ vocabulary: Vocabulary, to path: String) throws {
        try FileBytes.writeAtomically(Array(vocabulary.fileContents.utf8), to: path)
    }
}
