import Foundation
import GlimpseSafeTensors
import Testing

/// `mpirun -np 2 glimpse train` on this machine (loopback): two ranks, each on half of every
/// batch, against one process on the same whole batches. Needs Open MPI, both to build Glimpse
/// with (the MPI trait) and to run it (mpirun); CI installs it and sets GLIMPSE_REQUIRE_MPI=1,
/// so that there a missing Open MPI fails these tests instead of skipping them.
@Suite("Data-parallel training under mpirun", .serialized,
       .enabled(if: OpenMPI.runnable || OpenMPI.required,
                "needs Open MPI (bash Scripts/setup.sh --mpi, then build again); with GLIMPSE_REQUIRE_MPI=1 this is a failure"))
struct DataParallelTrainingTests {
    static var builtWithMPI: Bool { OpenMPI.builtWith }
    static var mpirun: String? { OpenMPI.mpirun }

    /// A tiny model without dropout (so the ranks' random streams do not matter), 8 images a batch.
    static let tiny = ["--image-size", "16", "--stage-channels", "4,8", "--embedding-size", "8", "--attention-size", "8",
                       "--hidden-size", "16", "--batch-size", "8", "--dropout", "0", "--threads", "1"]
    static let learningRate = 1e-3

    /// `mpirun --oversubscribe -np N glimpse ARGUMENTS` (as root, with Open MPI's consent flag).
    static func mpi(_ ranks: Int, _ arguments: [String], timeout: TimeInterval = 300) throws -> ToolRunner.Outcome {
        #expect(builtWithMPI, "GLIMPSE_REQUIRE_MPI=1, but this glimpse was built without the MPI trait (no Open MPI at build time)")
        let mpirun = try #require(mpirun, "GLIMPSE_REQUIRE_MPI=1, but mpirun is not on PATH")
        let root = getuid() == 0 ? ["--allow-run-as-root"] : []
        return try ToolRunner.run(root + ["--oversubscribe", "-np", "\(ranks)", ToolRunner.executable] + arguments,
                                  timeout: timeout, program: mpirun)
    }

    /// One small synthetic dataset for the whole suite (drawing scenes is slow in a debug build),
    /// in the temporary folder, made by the first test that asks and removed when the tests end.
    nonisolated(unsafe) private static var sharedDataset: String?
    static let datasetFolder = FileManager.default.temporaryDirectory.path + "/glimpse-mpi-tests-\(getpid())"
    static func dataset() throws -> String {
        if let sharedDataset { return sharedDataset }
        let folder = datasetFolder
        try? FileManager.default.removeItem(atPath: folder)
        atexit { try? FileManager.default.removeItem(atPath: DataParallelTrainingTests.datasetFolder) }
        let synth = try ToolRunner.run(["synth", folder, "--count", "30", "--seed", "3"])
        try #require(synth.status == 0, "\(synth.standardError)")
        sharedDataset = folder
        return folder
    }

    /// Every float tensor of a checkpoint, by name.
    static func tensors(_ path: String) throws -> [String: [Float]] {
        let file = try SafeTensorsFile(contentsOf: path)
        var tensors: [String: [Float]] = [:]
        for name in file.names { if let values = try? file.floats(named: name).values { tensors[name] = values } }
        return tensors
    }

    /// The largest |a − b| of each tensor the two checkpoints share (they must share all).
    static func differences(_ a: String, _ b: String) throws -> [String: Float] {
        let (left, right) = (try tensors(a), try tensors(b))
        #expect(Set(left.keys) == Set(right.keys))
        var result: [String: Float] = [:]
        for (name, values) in left {
            guard let other = right[name], other.count == values.count else { Issue.record("\(name) differs in size"); continue }
            result[name] = zip(values, other).map { abs($0 - $1) }.max() ?? 0
        }
        return result
    }

    /// Two ranks end 20 steps where one process ends: every tensor within float rounding of the
    /// reduction. One tensor is measured against its own bound: the attention's output bias, whose
    /// gradient is exactly zero (a softmax does not change when every logit moves alike), so that
    /// rounding noise is all Adam ever sees of it, and each step moves it by up to the learning rate.
    static func expectSameTraining(_ reference: String, _ candidate: String, steps: Int, what: String) throws {
        let differences = try differences(reference, candidate)
        let zeroGradient = "decoder.attention.full_att.bias"
        let (worstName, worst) = differences.filter { $0.key != zeroGradient }.max { $0.value < $1.value }!
        print("\(what): largest difference after \(steps) steps \(worst) (\(worstName)); "
              + "\(zeroGradient) \(differences[zeroGradient] ?? -1)")
        #expect(worst <= 1e-5, "\(what): \(worstName) differs by \(worst)")
        #expect((differences[zeroGradient] ?? .infinity) <= Float(2 * Double(steps) * learningRate))
    }

    @Test("two ranks train the same weights as one process on the same batches; a run resumes on another number of ranks")
    func sameWeights() throws {
        let scratch = try ScratchFolder()
        let data = try Self.dataset()
        let one = scratch.path + "/one", two = scratch.path + "/two", mixed = scratch.path + "/mixed"
        let alone = try ToolRunner.run(["train", data, "--out", one, "--max-steps", "20"] + Self.tiny)
        #expect(alone.status == 0, "\(alone.standardError)")

        // BatchNorm synchronised: the two halves' statistics are the whole batch's, as in one process.
        let pair = try Self.mpi(2, ["train", data, "--out", two, "--max-steps", "20", "--sync-batchnorm"] + Self.tiny)
        #expect(pair.status == 0, "\(pair.standardError)")
        #expect(pair.standardError.contains("training on 2 ranks started by Open MPI (mpirun): each takes 4 of the 8 images"))
        // Rank 0 alone speaks: one final line, not two.
        #expect(pair.standardError.components(separatedBy: "glimpse: stopped at step 20").count == 2, "\(pair.standardError)")
        try Self.expectSameTraining(one + "/last.safetensors", two + "/last.safetensors", steps: 20, what: "2 ranks")
        // The log's losses are the whole batch's, step for step.
        func losses(_ run: String) throws -> [Double] {
            try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8).split(separator: "\n").compactMap { line in
                let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                return record?["kind"] as? String == "step" ? record?["loss"] as? Double : nil
            }
        }
        let (single, paired) = (try losses(one), try losses(two))
        #expect(single.count == 20 && paired.count == 20)
        #expect(zip(single, paired).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($0)) }, "\(single) against \(paired)")
        #expect(try String(contentsOfFile: two + "/log.jsonl", encoding: .utf8).contains("allreduce_seconds"))

        // 10 steps on two ranks, then the last 10 in one process, from the same checkpoint set.
        let first = try Self.mpi(2, ["train", data, "--out", mixed, "--max-steps", "10", "--sync-batchnorm"] + Self.tiny)
        #expect(first.status == 0, "\(first.standardError)")
        let rest = try ToolRunner.run(["train", data, "--out", mixed, "--resume", "--max-steps", "20", "--threads", "1"])
        #expect(rest.status == 0, "\(rest.standardError)")
        try Self.expectSameTraining(one + "/last.safetensors", mixed + "/last.safetensors", steps: 20, what: "2 ranks, then 1")
    }

    @Test("an error every rank meets is said once, and the ranks leave together")
    func agreedError() throws {
        let scratch = try ScratchFolder()
        let missing = try Self.mpi(2, ["train", scratch.path + "/missing", "--out", scratch.path + "/run"] + Self.tiny, timeout: 120)
        #expect(missing.status == 1 && !missing.timedOut)
        #expect(missing.standardError.components(separatedBy: scratch.path + "/missing").count == 2, "\(missing.standardError)")
        #expect(!missing.standardError.contains("MPI_ABORT"), "\(missing.standardError)")
        // Fewer images a batch than ranks would leave a rank without work: refused, by rank 0 alone.
        let small = try Self.mpi(2, ["train", try Self.dataset(), "--out", scratch.path + "/small"] + Self.tiny + ["--batch-size", "1"],
                                 timeout: 120)
        #expect(small.status == 1 && !small.timedOut)
        let refusal = "--batch-size (1) must be at least the number of ranks (2)"
        #expect(small.standardError.components(separatedBy: refusal).count == 2, "\(small.standardError)")
        #expect(!small.standardError.contains("MPI_ABORT"), "\(small.standardError)")
    }

    @Test("a time budget stops every rank after the same step: one stop record, last saved at it, and one process resumes")
    func timeBudget() throws {
        let scratch = try ScratchFolder()
        let run = scratch.path + "/run"
        let outcome = try Self.mpi(2, ["train", try Self.dataset(), "--out", run, "--minutes", "0.05", "--epochs", "1000",
                                       "--early-stopping-patience", "1000"] + Self.tiny)
        #expect(outcome.status == 0, "\(outcome.standardError)")
        let records = try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8).split(separator: "\n").compactMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let stops = records.filter { $0["kind"] as? String == "stop" }
        #expect(stops.count == 1 && stops.first?["reason"] as? String == "time budget", "\(stops)")
        let stopStep = try #require(stops.first?["step"] as? Int)
        #expect(stopStep > 0)
        let lastStep = records.filter { $0["kind"] as? String == "step" }.compactMap { $0["step"] as? Int }.max()
        #expect(lastStep == stopStep)
        #expect(outcome.standardError.contains("glimpse: stopped at step \(stopStep); saved"), "\(outcome.standardError)")
        let resumed = try ToolRunner.run(["train", try Self.dataset(), "--out", run, "--resume", "--max-steps", "\(stopStep + 2)",
                                          "--threads", "1"])
        #expect(resumed.status == 0, "\(resumed.standardError)")
        #expect(resumed.standardError.contains("(step \(stopStep))"), "\(resumed.standardError)")
    }

    /// The ranks of an mpirun started by the test, by rank: its children, and the rank each was given.
    static func ranks(of mpirun: Int32) -> [Int: Int32] {
        var ranks: [Int: Int32] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, Int32(fields[1]) == mpirun,
                  let environment = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
            for variable in environment.split(separator: 0) {
                let text = String(decoding: variable, as: UTF8.self)
                if text.hasPrefix("OMPI_COMM_WORLD_RANK="), let rank = Int(text.dropFirst("OMPI_COMM_WORLD_RANK=".count)) {
                    ranks[rank] = pid
                }
            }
        }
        return ranks
    }

    /// Starts a long two-rank run saving every 5 steps, waits for its first checkpoint set, sends
    /// `signal` to rank 1 and returns how the job ended, and after how many seconds.
    static func signalRankOne(_ signal: Int32, extra: [String], in scratch: ScratchFolder) throws -> (ToolRunner.Outcome, TimeInterval) {
        let data = try dataset(), run = scratch.path + "/run"
        let mpirun = try #require(Self.mpirun)
        let root = getuid() == 0 ? ["--allow-run-as-root"] : []
        let process = Process()
        process.executableURL = URL(fileURLWithPath: mpirun)
        process.arguments = root + ["--oversubscribe", "-np", "2", ToolRunner.executable, "train", data, "--out", run,
                                    "--epochs", "1000", "--early-stopping-patience", "1000", "--save-every", "5"] + tiny + extra
        let errorPipe = Pipe()
        process.standardError = errorPipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Whatever happens, nothing outlives two minutes: mpirun and its ranks are killed then.
        let mpirunProcess = process.processIdentifier
        final class Ranks: @unchecked Sendable { var pids: [Int32] = [] }
        let known = Ranks()
        DispatchQueue.global().asyncAfter(deadline: .now() + 120) { [process] in
            guard process.isRunning else { return }
            for pid in known.pids { kill(pid, SIGKILL) }
            kill(mpirunProcess, SIGKILL)
        }
        let deadline = Date().addingTimeInterval(90)
        var ranks: [Int: Int32] = [:]
        while Date() < deadline, !FileManager.default.fileExists(atPath: run + "/last.safetensors") || ranks.count < 2 {
            Thread.sleep(forTimeInterval: 0.2)
            ranks = Self.ranks(of: process.processIdentifier)
        }
        known.pids = Array(ranks.values)
        let victim = try #require(ranks[1], "no rank 1 under mpirun \(process.processIdentifier)")
        let sent = Date()
        kill(victim, signal)
        let errorData = errorPipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (ToolRunner.Outcome(status: process.terminationStatus, standardOutput: "",
                                   standardError: String(decoding: errorData, as: UTF8.self)), Date().timeIntervalSince(sent))
    }

    /// After a job ended by a lost rank: the last set is whole, and one process resumes from it.
    static func expectResumable(_ scratch: ScratchFolder) throws {
        let resumed = try ToolRunner.run(["train", try dataset(), "--out", scratch.path + "/run", "--resume",
                                          "--max-steps", "1000000", "--epochs", "1", "--threads", "1"])
        #expect(resumed.status == 0, "\(resumed.standardError)")
        #expect(resumed.standardError.contains("resuming from"), "\(resumed.standardError)")
    }

    @Test("a rank killed mid-run ends the job promptly, and the run resumes from its last checkpoint set")
    func killedRank() throws {
        let scratch = try ScratchFolder()
        let (outcome, seconds) = try Self.signalRankOne(SIGKILL, extra: [], in: scratch)
        #expect(outcome.status != 0)
        #expect(seconds < 60, "the job took \(seconds) s to end")
        #expect(outcome.standardError.contains("exited on signal 9"), "\(outcome.standardError)")
        try Self.expectResumable(scratch)
    }

    @Test("a rank that stops answering (SIGSTOP) is noticed by the others' watchdog, which ends the job with a message")
    func stoppedRank() throws {
        let scratch = try ScratchFolder()
        let (outcome, seconds) = try Self.signalRankOne(SIGSTOP, extra: ["--peer-timeout", "5"], in: scratch)
        #expect(outcome.status != 0)
        #expect(seconds < 60, "the job took \(seconds) s to end")
        #expect(outcome.standardError.contains("rank 0 of 2: no answer from the other ranks for 5 s"), "\(outcome.standardError)")
        try Self.expectResumable(scratch)
    }
}

/// Whether these tests can run here: Glimpse built with the MPI trait, and mpirun on PATH.
enum OpenMPI {
    static let required = ProcessInfo.processInfo.environment["GLIMPSE_REQUIRE_MPI"] == "1"
    static var builtWith: Bool {
        #if MPI
        return true
        #else
        return false
        #endif
    }
    static let mpirun: String? = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        .map { $0 + "/mpirun" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    static var runnable: Bool { builtWith && mpirun != nil }
}
