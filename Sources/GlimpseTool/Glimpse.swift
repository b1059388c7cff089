import GlimpseSupport
import ArgumentParser
import GlimpseImage
import GlimpseTensor
#if canImport(Glibc)
import Glibc
#endif

@main
struct Glimpse: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "glimpse",
        abstract: "Image captioning on the CPU: caption photos, train on captioned folders, caption whole directories.",
        version: GlimpseVersion.string,
        subcommands: [CaptionCommand.self, BatchCommand.self, TrainCommand.self, EvaluateCommand.self, ScoreCommand.self,
                      InfoCommand.self, InspectCommand.self, ReportCommand.self, SynthCommand.self, ImportCommand.self,
                      ImportEncoderCommand.self, ExportCommand.self, CalibrateCommand.self]
    )

    /// Picks OpenBLAS's kernels from the CPU's features before anything else runs (see
    /// `BLAS.selectKernels`, in-process; GLIMPSE_BLAS_KERNELS overrides it), then parses and runs the command.
    static func main() {
        BLAS.selectKernels()
        let arguments = Self.losslessArguments()
        if let problem = Self.nonUTF8Problem(arguments) { finish(ValidationError(problem)) }
        do {
            var command = try parseAsRoot(Self.joiningNegativeValues(arguments))
            try command.run()
        } catch {
            finish(error)
        }
    }

    /// Every failure is printed one way, `glimpse: PATH: reason` (or `glimpse: reason`) on
    /// standard error, and ends with a status of the table in Docs/commands.md, "Errors and exit
    /// status": 1 for a failure, 64 for a bad argument (with a pointer to the command's help),
    /// 130/143 for an interrupted run. Help and version go to standard output with status 0.
    static func finish(_ error: any Error) -> Never {
        let code = exitCode(for: error)
        if let failure = error as? ToolFailure {
            Terminal.standardError("glimpse: " + failure.message)
            Self.exit(withError: ExitCode.failure)
        }
        if code == .success || error is ExitCode {
            // Help, version, or a command that has already said why it stops.
            Self.exit(withError: error)
        }
        Terminal.standardError("glimpse: " + message(for: error))
        if code == .validationFailure {
            Terminal.standardError("Run 'glimpse --help', or 'glimpse COMMAND --help', for the usage.")
        }
        Self.exit(withError: ExitCode(code.rawValue))
    }

    /// Names that are not UTF-8 are handled byte for byte by the commands that read images
    /// by name (`caption`, `batch`, `info`); the others open files through Foundation, so they
    /// refuse such an argument up front rather than act on a different, truncated name.
    static func nonUTF8Problem(_ arguments: [String]) -> String? {
        guard let bad = arguments.first(where: { !FileName.isUTF8($0) }) else { return nil }
        let command = arguments.first { !$0.hasPrefix("-") } ?? ""
        if ["caption", "batch", "info"].contains(command) { return nil }
        return "the argument \(FileName.shown(bad)) is not valid UTF-8; glimpse \(command) needs UTF-8 names "
            + "(caption, batch and info take any file name)"
    }

    /// The arguments after the program's name, each held as `FileName` holds names: a path
    /// that is not valid UTF-8 keeps its exact bytes (`CommandLine.arguments` would replace
    /// them with U+FFFD, naming a file that does not exist).
    static func losslessArguments() -> [String] {
        (1..<Int(CommandLine.argc)).map { index in
            guard let argument = CommandLine.unsafeArgv[index] else { return "" }
            return FileName.string(fromBytes: UnsafeBufferPointer(start: argument, count: strlen(argument)).map { UInt8(bitPattern: $0) })
        }
    }

    /// `--threads -1` as `--threads=-1`: the argument parser takes a token starting with "-"
    /// for a flag and would report a missing value, where the user gave a negative number
    /// that deserves the option's own range check ("--threads must be at least 1, got -1").
    static func joiningNegativeValues(_ arguments: [String]) -> [String] {
        var result: [String] = []
        for argument in arguments {
            if let previous = result.last, previous.hasPrefix("--"), previous.count > 2, !previous.contains("="),
               isNegativeNumber(argument) {
                result[result.count - 1] = previous + "=" + argument
            } else {
                result.append(argument)
            }
        }
        return result
    }

    static func isNegativeNumber(_ text: String) -> Bool {
        guard text.hasPrefix("-"), text.count > 1 else { return false }
        let body = text.dropFirst()
        guard let first = body.first, first.isNumber || first == "." else { return false }
        return Double(body) != nil
    }
}

enum GlimpseVersion {
    static let string = "0.1.0"
}
