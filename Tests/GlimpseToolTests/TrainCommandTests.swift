import Foundation
import GlimpseSynth
import Testing

@Suite("glimpse train")
struct TrainCommandTests {
    static let tinyModel = ["--image-size", "16", "--stage-channels", "4,8", "--embedding-size", "8",
                            "--attention-size", "8", "--hidden-size", "16", "--batch-size", "8", "--threads", "1"]

    func dataset(in scratch: ScratchFolder) throws -> String {
        let folder = scratch.path + "/data"
        try SyntheticDataset(count: 24, seed: 4).write(to: folder)
        return folder
    }

    @Test("one tiny epoch writes the run folder and exits 0")
    func oneEpoch() throws {
        let scratch = try ScratchFolder()
        let data = try dataset(in: scratch)
        let run = scratch.path + "/run"
        let outcome = try ToolRunner.run(["train", data, "--out", run, "--epochs", "1"] + Self.tinyModel)
        #expect(outcome.status == 0, "\(outcome.standardError)")
        for name in ["best.safetensors", "last.safetensors", "last/state.safetensors", "log.jsonl", "vocab.txt",
                     "config.json", "cache"] {
            #expect(FileManager.default.fileExists(atPath: run + "/" + name), "missing \(name)")
        }
        #expect(outcome.standardError.contains("epoch 1: validation BLEU-4"))
        #expect(outcome.standardError.contains("glimpse: trained 1 epoch; best model"), "\(outcome.standardError)")
    }

    @Test("flags are checked before anything runs", arguments: [
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--learning-rate=-1"], "--learning-rate must be positive"),
        (["--stage-channels", "4,x"], "--stage-channels must be comma-separated"),
        (["--image-size", "20"], "image size 20 is not divisible"),
        (["--word-loss=-1"], "--word-loss must be finite and at least 0"),
        (["--scst"], "--scst fine-tunes a trained model: give it with --init MODEL"),
        (["--scst", "--init", "/x.safetensors", "--scst-samples", "1"], "--scst-samples must be at least 2"),
        (["--resume", "--init", "/x.safetensors"], "--init starts a new run from a model"),
        (["--threads", "-1"], "--threads must be at least 1, got -1"),
        (["--save-every", "0"], "--save-every must be at least 1 (optimizer steps), got 0."),
        (["--threads", "9223372036854775807"], "--threads must be at most 256"),
        (["--batch-size", "9223372036854775807"], "--batch-size must be at most 4096"),
        (["--image-size", "16384"], "--image-size must be at most 2048, got 16384"),
        (["--stage-channels", "4,9223372036854775807"], "--stage-channels must be at most 8192 each"),
        (["--embedding-size", "9223372036854775807"], "--embedding-size must be at most 16384"),
        (["--hidden-size", "1000000"], "--hidden-size must be at most 16384, got 1000000"),
        (["--learning-rate", "-0.5"], "--learning-rate must be positive, got -0.5"),
        (["--fine-tune-from-stage", "4"], "--fine-tune-from-stage trains a pretrained encoder's last stages: give --encoder too"),
        (["--encoder", "/x.safetensors", "--fine-tune-from-stage", "5"], "--fine-tune-from-stage must be from 1 to 4"),
        (["--encoder", "/x.safetensors", "--augment"], "--augment changes the images every epoch"),
        (["--encoder", "/x.safetensors", "--encoder-lr", "1e-4"], "--encoder-lr sets the rate of the encoder's stages that train"),
        (["--encoder", "/x.safetensors", "--fine-tune-from-stage", "4", "--encoder-lr", "0"], "--encoder-lr must be positive, got 0.0"),
    ])
    func validation(flags: [String], message: String) throws {
        let outcome = try ToolRunner.run(["train", "/nonexistent", "--out", "/tmp/unused"] + flags)
        #expect(outcome.status != 0)
        #expect(outcome.standardError.contains(message), "\(outcome.standardError)")
    }

    @Test("on a terminal the bar shows epoch N of M, cross-entropy and the run's ETA, and the last word starts on a new line",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script")))
    func terminalBar() throws {
        let scratch = try ScratchFolder()
        let data = try dataset(in: scratch)
        let run = scratch.path + "/run"
        // Stopped inside the second epoch, while its bar is on screen.
        let arguments = [ToolRunner.executable, "train", data, "--out", run, "--epochs", "3", "--max-steps", "4"] + Self.tinyModel
        let command = arguments.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        // script(1) gives the tool a terminal of its own, as a user's shell does.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = ["-q", "-e", "-c", command, "/dev/null"]
        process.environment = ProcessInfo.processInfo.environment.merging(["TERM": "xterm"]) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        // The bar's width follows the terminal's (80 columns when script(1) cannot tell).
        #expect(text.contains("\r\u{1B}[Kepoch 2 of 3 ["), "\(text.debugDescription)")
        #expect(text.contains("] 1/3 steps  cross-entropy "), "\(text.debugDescription)")
        #expect(text.contains("  run ETA "), "\(text.debugDescription)")
        guard let last = text.range(of: "glimpse: stopped at step 4; saved") else {
            Issue.record("no closing message: \(text.debugDescription)")
            return
        }
        // The terminal turns each newline into a carriage return and a newline: the bar as it
        // stood, ended, then the message on a line of its own.
        let before = text[..<last.lowerBound]
        #expect(before.hasSuffix("\r\n"), "\(text.debugDescription)")
        let barLine = String(before).components(separatedBy: "\r\n").dropLast().last ?? ""
        #expect(barLine.contains("epoch 2 of 3 [") && barLine.contains("cross-entropy"), "\(barLine.debugDescription)")
    }

    @Test("a run that diverges before its first checkpoint says that nothing was saved")
    func divergesBeforeAnyCheckpoint() throws {
        let scratch = try ScratchFolder()
        let data = try dataset(in: scratch)
        let run = scratch.path + "/run"
        // Adam moves every weight by about the learning rate: 1e30 makes the second step's loss overflow.
        let outcome = try ToolRunner.run(["train", data, "--out", run, "--epochs", "1", "--learning-rate", "1e30"] + Self.tinyModel)
        #expect(outcome.status == 1, "\(outcome.standardError)")
        #expect(outcome.standardError.contains("training diverged at step"), "\(outcome.standardError)")
        #expect(outcome.standardError.contains("no checkpoint was saved before it"), "\(outcome.standardError)")
        #expect(!FileManager.default.fileExists(atPath: run + "/last.safetensors"))
    }

    @Test("SIGTERM saves last with its state and exits with status 143")
    func terminate() throws {
        let scratch = try ScratchFolder()
        let data = try dataset(in: scratch)
        let run = scratch.path + "/run"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ToolRunner.executable)
        process.arguments = ["train", data, "--out", run, "--epochs", "100000"] + Self.tinyModel
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait for training steps in the log, then ask the run to stop.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let log = try? String(contentsOfFile: run + "/log.jsonl", encoding: .utf8),
               log.split(separator: "\n").count > 12 { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 143)
        #expect(FileManager.default.fileExists(atPath: run + "/last.safetensors"))
        #expect(FileManager.default.fileExists(atPath: run + "/last/state.safetensors"))
        let log = try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8)
        #expect(log.split(separator: "\n").last?.contains("\"kind\":\"stop\"") == true)

        let resumed = try ToolRunner.run(["train", data, "--out", run, "--resume", "--epochs", "1", "--threads", "1"])
        #expect(resumed.status == 0, "\(resumed.standardError)")
    }

    @Test("a second process training in the same run folder is refused at once, naming the first")
    func oneProcessPerRunFolder() throws {
        let scratch = try ScratchFolder()
        let data = try dataset(in: scratch)
        let run = scratch.path + "/run"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        // This test process plays the first run: it holds the log's lock as a run does.
        let descriptor = open(run + "/log.jsonl", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        #expect(descriptor >= 0 && flock(descriptor, LOCK_EX | LOCK_NB) == 0)
        defer { close(descriptor) }
        for resume in [false, true] {
            let outcome = try ToolRunner.run(["train", data, "--out", run, "--epochs", "1"] + (resume ? ["--resume"] : []) + Self.tinyModel,
                                             timeout: 60)
            #expect(outcome.status == 1)
            #expect(outcome.standardError.contains("\(run): another glimpse train is running in this folder (process \(getpid())"),
                    "\(outcome.standardError)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: run) == ["log.jsonl"])
    }

    @Test("a write that fails while the cache fills (a 4 KB file-size limit) names the file and leaves no partial images")
    func cacheWriteFails() throws {
        let scratch = try ScratchFolder()
        let data = try dataset(in: scratch)
        let run = scratch.path + "/run"
        // The shell ignores SIGXFSZ, so past the limit write(2) fails with EFBIG, as a full disk fails with ENOSPC.
        let command = "trap '' XFSZ; ulimit -f 8; exec \"$0\" \"$@\""
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command, ToolRunner.executable, "train", data, "--out", run, "--epochs", "1"] + Self.tinyModel
        let error = Pipe()
        process.standardError = error
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 1)
        #expect(message.contains("\(run)/cache/pixels-16.bin: image cache: cannot write: File too large; "
                                 + "the images written part way were removed"), "\(message)")
        let size = try FileManager.default.attributesOfItem(atPath: run + "/cache/pixels-16.bin")[.size] as? Int
        #expect(size == 0)
    }
}
