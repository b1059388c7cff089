import Foundation
import GlimpseData
import GlimpseSupport

/// Why a run folder could not be read back (`glimpse report`). Each case names the path.
public enum RunFolderError: Error, Sendable, Equatable, CustomStringConvertible {
    case notFound(path: String)
    case notAFolder(path: String)
    /// A folder without the files every run writes first (config.json, log.jsonl).
    case notARun(path: String)
    /// A run file that is there but cannot be read or parsed.
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case .notFound(let path): return "\(path): no such folder"
        case .notAFolder(let path): return "\(path): not a folder; give the run folder of glimpse train (its --out)"
        case .notARun(let path):
            return "\(path): not a training run folder (it has neither config.json nor log.jsonl); "
                + "give the folder glimpse train wrote (its --out)"
        case .unreadable(let path, let reason): return "\(path): cannot read: \(reason)"
        }
    }
}

/// What a run folder says about its run, read without changing anything in it: the
/// configuration, every log record, the loop's progress and the best checkpoint, with what is
/// missing said in words. A run still training (its log locked) or killed part way reads too.
public struct RunHistory: Sendable {
    public var layout: RunLayout
    /// nil when config.json is not written yet (a run stopped while filling its cache).
    public var configuration: RunConfiguration?
    /// log.jsonl's records, in order.
    public var records: [LogRecord]
    /// The progress saved with `last`; nil before the first checkpoint set.
    public var progress: RunProgress?
    /// `best.safetensors`, when it exists.
    public var bestCheckpoint: String?
    /// A `glimpse train` holding the log's lock: the run is still going (its process, when known).
    public var trainer: FileLock.State
    /// What the folder lacks or what was passed over, one sentence each.
    public var notes: [String]

    /// Reads the run folder at `directory`.
    public static func read(_ directory: String) throws(RunFolderError) -> RunHistory {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isFolder) else { throw .notFound(path: directory) }
        guard isFolder.boolValue else { throw .notAFolder(path: directory) }
        let layout = RunLayout(directory: directory)
        let exists = { (path: String) in FileManager.default.fileExists(atPath: path) }
        guard exists(layout.configuration) || exists(layout.log) else { throw .notARun(path: directory) }

        var notes: [String] = []
        var configuration: RunConfiguration?
        if exists(layout.configuration) {
            configuration = try decode(RunConfiguration.self, from: layout.configuration)
        } else {
            notes.append("config.json is missing: the run stopped before its images were cached, so its options, "
                         + "dataset and model are not known")
        }
        var records: [LogRecord] = []
        if exists(layout.log) {
            let (read, incomplete) = try readLog(layout.log)
            records = read
            if incomplete { notes.append("log.jsonl ends in a line that was cut short (a crash while writing it); it is left out") }
            if records.isEmpty { notes.append("log.jsonl holds no record yet: no training step has finished") }
        } else {
            notes.append("log.jsonl is missing: nothing was logged")
        }
        var progress: RunProgress?
        if exists(layout.progress) {
            do {
                progress = try decode(RunProgress.self, from: layout.progress)
            } catch {
                notes.append("\(layout.progress) cannot be read (\(error)); epochs and the stop are taken from the log")
            }
        }
        let best = exists(layout.best) ? layout.best : nil
        if best == nil {
            notes.append("no best checkpoint (best.safetensors): no validation has run yet, or none scored, "
                         + "so no captions or attention can be shown")
        }
        return RunHistory(layout: layout, configuration: configuration, records: records, progress: progress,
                          bestCheckpoint: best, trainer: FileLock.state(ofFileAt: layout.log), notes: notes)
    }

    /// The log's records; a last line without its newline (cut by a crash) is left out and said so.
    static func readLog(_ path: String) throws(RunFolderError) -> (records: [LogRecord], incomplete: Bool) {
        let bytes: [UInt8]
        do { bytes = try FileBytes.read(path, limit: 1 << 30) } catch { throw .unreadable(path: path, reason: error.reasonDescription) }
        let decoder = JSONFile.decoder()
        var records: [LogRecord] = []
        var start = 0, line = 0
        while start < bytes.count {
            line += 1
            guard let newline = bytes[start...].firstIndex(of: 0x0A) else { return (records, true) }
            defer { start = newline + 1 }
            if newline == start { continue }
            do {
                records.append(try decoder.decode(LogRecord.self, from: Data(bytes[start..<newline])))
            } catch {
                throw .unreadable(path: path, reason: "line \(line) is not a log record: \(ErrorText.describe(error))")
            }
        }
        return (records, false)
    }

    static func decode<Value: Decodable>(_ type: Value.Type, from path: String) throws(RunFolderError) -> Value {
        let bytes: [UInt8]
        do { bytes = try FileBytes.read(path, limit: 64 << 20) } catch { throw .unreadable(path: path, reason: error.reasonDescription) }
        do {
            return try JSONFile.decoder().decode(type, from: Data(bytes))
        } catch {
            throw .unreadable(path: path, reason: ErrorText.describe(error))
        }
    }

    // MARK: What the records say

    public var stepRecords: [LogRecord] { records.filter { $0.kind == .step } }
    public var validationRecords: [LogRecord] { records.filter { $0.kind == .validation } }

    /// Optimizer steps taken: the last step logged.
    public var stepsDone: Int { records.map(\.step).max() ?? 0 }

    /// Epochs completed: the saved progress, else the epochs validated at their end.
    public var epochsDone: Int {
        if let progress { return progress.completedEpochs }
        return validationRecords.map(\.epoch).max() ?? 0
    }

    /// The validation that made `best.safetensors`: the last one marked best.
    public var bestValidation: LogRecord? { validationRecords.last { $0.best == true } }

    public var isTraining: Bool { if case .held = trainer { true } else { false } }

    /// How the run ended (or that it has not), in words.
    public var stopReason: String {
        if isTraining { return "still training" }
        if let stop = records.last, stop.kind == .stop, let reason = stop.reason {
            // A run that ran its course logs why it ended too: said as a finished run is.
            if reason == TrainingOutcome.completed(epochs: 0).reason {
                return "completed \(epochsDone) epoch\(epochsDone == 1 ? "" : "s")"
            }
            if reason.hasPrefix("early stopping: ") {
                return "stopped early after epoch \(epochsDone) (" + reason.dropFirst("early stopping: ".count) + ")"
            }
            let readable = Self.readableReason(reason)
            return readable.contains("step \(stop.step)") ? readable : readable + " at step \(stop.step)"
        }
        let epochs = epochsDone
        if progress?.finished == true {
            let patience = configuration?.options.earlyStoppingPatience
            return "stopped early after epoch \(epochs)" + (patience.map { " (no better validation score for \($0) epochs)" } ?? "")
        }
        if let planned = configuration?.options.epochs, epochs >= planned {
            return "completed \(epochs) epoch\(epochs == 1 ? "" : "s")"
        }
        if records.isEmpty { return "not started: no step was logged" }
        return "no stop was logged: the process ended without saying why (killed?)"
    }

    /// A reason as the log holds it: words already, or (logs of older versions) a Swift case
    /// such as `stepLimitReached(step: 5)`, whose name is turned into words and whose step,
    /// given beside it, is dropped.
    static func readableReason(_ reason: String) -> String {
        let name = reason.prefix { $0.isASCII && $0.isLetter }
        let rest = reason.dropFirst(name.count)
        guard let first = name.first, first.isLowercase, rest.isEmpty || (rest.hasPrefix("(") && rest.hasSuffix(")")) else {
            return reason
        }
        var words = ""
        for character in name {
            if character.isUppercase { words += " " + character.lowercased() } else { words.append(character) }
        }
        let step = rest.dropFirst("(step: ".count).dropLast()
        if rest.isEmpty || (rest.hasPrefix("(step: ") && !step.isEmpty && step.allSatisfy(\.isNumber)) { return words }
        return words + " " + rest
    }

    /// The score `best` was chosen by, its name and value, from the best validation record.
    public var bestScore: (name: String, value: Double)? {
        guard let record = bestValidation else { return nil }
        if record.validationImages == nil, let loss = record.loss { return ("mean training loss", Double(loss)) }
        switch configuration?.options.selectionMetric ?? .ciderD {
        case .ciderD: return record.ciderD.map { ("CIDEr-D", $0) }
        case .content: return record.content.map { ("exact match", $0.exactMatch) }
        }
    }
}
