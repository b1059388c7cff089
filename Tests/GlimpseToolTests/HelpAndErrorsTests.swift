import Foundation
import Testing

/// Every subcommand explains itself, and every failure is printed one way.
@Suite("help text and error style")
struct HelpAndErrorsTests {
    @Test("each subcommand's --help prints its overview and usage, with status 0", arguments: [
        ("caption", "Caption images"), ("batch", "Caption every image in a folder tree"), ("train", "USAGE: glimpse train"),
        ("evaluate", "USAGE: glimpse evaluate"), ("score", "USAGE: glimpse score"), ("info", "USAGE: glimpse info"),
        ("inspect", "USAGE: glimpse inspect"), ("synth", "USAGE: glimpse synth"), ("import", "USAGE: glimpse import"),
        ("export", "USAGE: glimpse export"), ("import-encoder", "BatchNorm is folded"), ("report", "USAGE: glimpse report"),
    ])
    func help(command: String, text: String) throws {
        let outcome = try ToolRunner.run([command, "--help"], timeout: 30)
        #expect(outcome.status == 0)
        #expect(outcome.standardOutput.contains("OVERVIEW:") && outcome.standardOutput.contains("USAGE: glimpse \(command)"))
        #expect(outcome.standardOutput.contains(text), "\(outcome.standardOutput.prefix(300))")
        #expect(outcome.standardError.isEmpty)
    }

    @Test("failures read 'glimpse: …' on standard error: 64 for a bad argument, 1 for a failed command", arguments: [
        (["caption", "--beam", "0", "x.jpg"], Int32(64), "glimpse: --beam must be from 1 to 100, got 0."),
        (["bogus"], Int32(64), "glimpse: Unexpected argument 'bogus'"),
        (["caption", "--model", "/nonexistent/m.safetensors", "x.jpg"], Int32(1),
         "glimpse: /nonexistent/m.safetensors: cannot read file: No such file or directory"),
        (["info", "/nonexistent/photo.jpg"], Int32(1), "/nonexistent/photo.jpg: cannot read file: No such file or directory"),
        (["train", "/nonexistent", "--out", "/tmp/glimpse-unused-run"], Int32(1), "glimpse: /nonexistent"),
        (["report", "/nonexistent/run"], Int32(1), "glimpse: /nonexistent/run: no such folder"),
        (["report", "/tmp", "--images", "101"], Int32(64), "glimpse: --images must be from 0 to 100, got 101."),
    ])
    func errorStyle(arguments: [String], status: Int32, line: String) throws {
        let outcome = try ToolRunner.run(arguments, timeout: 60)
        #expect(outcome.status == status, "\(outcome.standardError)")
        #expect(outcome.errorLines.contains { $0.hasPrefix(line) || $0.contains(line) }, "\(outcome.standardError)")
        #expect(!outcome.standardError.contains("Error: "), "\(outcome.standardError)")
        #expect(outcome.standardOutput.isEmpty)
    }
}
