import ArgumentParser
import GlimpseModel

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a Glimpse model as a plain PyTorch state dict (and its vocabulary).",
        discussion: """
        The output loads strictly into the equivalent PyTorch module (Scripts/reference_model.py): \
        model.load_state_dict(safetensors.torch.load_file(STATE_DICT)). Every weight and \
        running statistic is F32 under its PyTorch name, and each BatchNorm's \
        num_batches_tracked an I64 scalar (0). The sizes that shapes cannot tell (image \
        size, normalisation, dropout, λ) are printed, to pass back to `glimpse import`.
        """)

    @Argument(help: ArgumentHelp("The Glimpse model.", valueName: "model.safetensors"))
    var model: String

    @Option(help: ArgumentHelp("The state dict to write.", valueName: "state-dict.safetensors"))
    var out: String

    @Option(help: ArgumentHelp("Also write the vocabulary, one token per line.", valueName: "vocab.txt"))
    var vocabOut: String?

    func run() throws {
        do {
            let checkpoint = try Checkpoint(contentsOf: model)
            if let encoder = checkpoint.model.configuration.pretrainedEncoder {
                throw ToolFailure("\(model): a model on a pretrained \(encoder.architecture.rawValue) encoder has no PyTorch "
                                  + "reference module to export to yet (Scripts/reference_model.py has the small CNN only)")
            }
            try StateDictionary.write(checkpoint.model, to: out)
            if let vocabOut { try VocabularyFile.write(checkpoint.vocabulary, to: vocabOut) }
            let c = checkpoint.model.configuration, p = checkpoint.preprocessing
            func list(_ values: [Float]) -> String { values.map { String($0) }.joined(separator: ",") }
            print("\(out): \(StateDictionary.tensors(of: checkpoint.model).count) tensors; import back with "
                  + "--image-size \(c.imageSize) --dropout \(c.dropout) --attention-regularization \(c.attentionRegularization) "
                  + "--mean \(list(p.mean)) --std \(list(p.std))")
        } catch {
            Terminal.standardError("glimpse: \(error)")
            throw ExitCode(1)
        }
    }
}
