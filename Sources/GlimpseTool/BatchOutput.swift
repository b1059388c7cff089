import ArgumentParser
import Foundation
import GlimpseImage
import GlimpseSupport

/// One image's line in `glimpse batch`'s output: a caption or an error.
struct BatchRecord: Equatable {
    /// Relative to the captioned folder (stable across machines, COCO's image_id).
    var path: String
    var caption: String?
    var logProbability: Double?
    var error: String?
    /// The search stopped at --max-length before the model ended the caption.
    var truncated = false
    /// How far the image lies from the model's training images, for a model with a feature
    /// summary (`FeatureSummary`): the distance, and whether it is above the model's threshold.
    var familiarity: (distance: Double, unfamiliar: Bool)?

    static func == (left: BatchRecord, right: BatchRecord) -> Bool {
        left.path == right.path && left.caption == right.caption && left.error == right.error
            && left.truncated == right.truncated
            && (left.logProbability == right.logProbability || (left.logProbability?.isNaN == true && right.logProbability?.isNaN == true))
            && left.familiarity?.unfamiliar == right.familiarity?.unfamiliar
            && (left.familiarity?.distance == right.familiarity?.distance
                || (left.familiarity?.distance.isNaN == true && right.familiarity?.distance.isNaN == true))
    }
}

enum BatchFormat: String, ExpressibleByArgument, CaseIterable {
    case jsonl, csv, coco

    /// The format an output's extension names (.csv, .jsonl or .ndjson, .json for COCO's
    /// results array), or nil for any other name.
    init?(impliedBy output: String) {
        switch (output as NSString).pathExtension.lowercased() {
        case "csv": self = .csv
        case "jsonl", "ndjson": self = .jsonl
        case "json": self = .coco
        default: return nil
        }
    }

    /// The extension an output in this format is given.
    var fileExtension: String { self == .coco ? "json" : rawValue }
}

/// A failure reading or writing the batch output, naming the file.
struct BatchOutputError: Error, CustomStringConvertible {
    let path: String
    let message: String
    var description: String { "\(path): \(message)" }
}

/// The output file of `glimpse batch`, appended batch by batch and read back to resume.
///
/// - JSON Lines and CSV are appended to the output itself, one `write(2)` per batch with
///   `O_APPEND`, so an interruption loses at most the batch being written; a torn last line
///   is cut off before appending again, and its image is captioned again.
/// - COCO's results format is one JSON array, which cannot be appended to; progress goes
///   to a JSON Lines sidecar (`OUTPUT.progress.jsonl`, the resume state, kept) and the
///   array is written from it atomically at the end of every run.
/// - Batch only changes a file it can prove it wrote: every line one of this format's
///   records (a CSV's header where this shard writes one), a COCO array only beside its
///   sidecar. Anything else is refused before a byte changes.
/// - The file appended to is locked (`flock`) for the run's life: a second run on the same
///   output refuses at once, naming the first.
final class BatchOutput {
    let path: String
    let format: BatchFormat
    /// Only the first shard's CSV has the header, so shard files concatenate with `cat`.
    let writesHeader: Bool
    private var descriptor: Int32 = -1
    /// Bytes in the file appended to.
    private var length = 0

    static let csvHeader = "path,caption,logprob,error"

    init(path: String, format: BatchFormat, writesHeader: Bool) {
        self.path = path
        self.format = format
        self.writesHeader = writesHeader
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// The file appended to: the output, or for COCO its sidecar.
    var progressPath: String { format == .coco ? path + ".progress.jsonl" : path }

    private func failure(_ message: String, file: String? = nil) -> BatchOutputError {
        BatchOutputError(path: file ?? progressPath, message: message)
    }

    /// Opens and locks the file appended to (creating it), checks that it is this format's
    /// output, cuts off a torn last record, and returns the records already there.
    func open() throws(BatchOutputError) -> [BatchRecord] {
        let file = progressPath
        var info = stat()
        let existed = FileName.withSystemPath(file, { stat($0, &info) }) == 0
        if existed && (info.st_mode & S_IFMT) != S_IFREG {
            let kind = (info.st_mode & S_IFMT) == S_IFDIR ? "a folder" : FileBytes.specialFileKind(file) ?? "not a file"
            throw failure("is not a regular file (\(kind)); choose another --output")
        }
        if format == .coco && FileName.withSystemPath(path, { stat($0, &info) }) == 0 {
            guard existed else {
                throw failure("exists and is not the results of an earlier glimpse batch run (no \(file) beside it); "
                              + "choose another --output or remove it", file: path)
            }
            try Self.checkCOCOResults(at: path)
        }
        descriptor = FileName.withSystemPath(file) { Glibc.open($0, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0o644) }
        guard descriptor >= 0 else { throw failure("cannot open: \(FileBytes.systemMessage(errno))") }
        switch FileLock.tryExclusive(descriptor) {
        case .success: break
        case .failure(.held(let holder)):
            throw failure("another glimpse batch run is writing to it (\(holder?.description ?? "its process is not listed")); "
                          + "wait for it to finish, or give this run another --output")
        case .failure(.system(let message)):
            throw failure("cannot lock: \(message)")
        }
        // Read through the locked descriptor: what is checked is what is appended to.
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw failure("is not a regular file; choose another --output")
        }
        // A large foreign file is refused from its first lines, before it is read whole.
        let size = Int(info.st_size)
        if size > 1 << 16 {
            var prefix = [UInt8](repeating: 0, count: 1 << 16)
            let count = prefix.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress!, $0.count, 0) }
            if count > 0 {
                prefix = Array(prefix[..<count])
                let lines = prefix[..<((prefix.lastIndex(of: 0x0A).map { $0 + 1 }) ?? 0)]
                let parsed = format == .csv ? Self.parseCSV(Array(lines), headerExpected: writesHeader) : Self.parseJSONLines(Array(lines))
                if lines.isEmpty || parsed.problem != nil {
                    throw failure((parsed.problem ?? "its first 64 KB hold no line end")
                                  + "; it is not the \(format.rawValue) output of an earlier glimpse batch run, so it is left untouched: "
                                  + "choose another --output")
                }
            }
        }
        var bytes = [UInt8](repeating: 0, count: size)
        var filled = 0
        while filled < bytes.count {
            let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + filled, $0.count - filled, off_t(filled)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw failure("cannot read the existing output to resume: \(FileBytes.systemMessage(errno))") }
            filled += count
        }
        let parsed = format == .csv ? Self.parseCSV(bytes, headerExpected: writesHeader) : Self.parseJSONLines(bytes)
        // Appending our records to some other file (or another format's) would spoil both.
        if let problem = parsed.problem {
            throw failure(problem + "; it is not the \(format.rawValue) output of an earlier glimpse batch run"
                          + (format == .csv ? " of this shard" : "") + ", so it is left untouched: choose another --output")
        }
        if parsed.completeLength < bytes.count {
            // The last record was cut (an interrupted run): drop it, its image is redone.
            guard ftruncate(descriptor, off_t(parsed.completeLength)) == 0 else {
                throw failure("cannot cut the incomplete last line: \(FileBytes.systemMessage(errno))")
            }
        }
        length = parsed.completeLength
        return parsed.records
    }

    /// Appends records in one write, then flushes them to the disk.
    func append(_ records: [BatchRecord]) throws(BatchOutputError) {
        precondition(descriptor >= 0, "open() first")
        var text = ""
        if format == .csv && length == 0 && writesHeader { text = Self.csvHeader + "\r\n" }
        text += records.map { format == .csv ? Self.csvLine($0) : Self.jsonLine($0) }.joined()
        guard !text.isEmpty else { return }
        // CSV holds names as their exact bytes; JSON Lines as `pathFields` writes them.
        let bytes = format == .csv ? FileName.bytes(text) : Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + written, $0.count - written) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw failure("cannot write: \(FileBytes.systemMessage(errno))")
            }
            written += count
        }
        guard fsync(descriptor) == 0 else { throw failure("cannot write: \(FileBytes.systemMessage(errno))") }
        length += bytes.count
    }

    /// For COCO: the results array from every record in the sidecar, written atomically
    /// (while the sidecar is still locked). Then the lock is released.
    func finish(allRecords: [BatchRecord]) throws(BatchOutputError) {
        defer {
            if descriptor >= 0 { close(descriptor) }
            descriptor = -1
        }
        guard format == .coco else { return }
        let items: [[String: Any]] = allRecords.compactMap { record in
            record.caption.map { caption in
                var item: [String: Any] = ["caption": caption]
                for (key, value) in JSONLine.pathFields("image_id", record.path) { item[key] = value }
                return item
            }
        }
        guard let data = try? JSONSerialization.data(withJSONObject: items, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            throw BatchOutputError(path: path, message: "cannot encode the results")
        }
        do {
            try FileBytes.writeAtomically([UInt8](data) + [0x0A], to: path)
        } catch {
            throw BatchOutputError(path: path, message: error.message)
        }
    }

    /// A COCO results file as `finish` writes it: a JSON array of objects with exactly a
    /// string `image_id` and a string `caption`.
    static func checkCOCOResults(at path: String) throws(BatchOutputError) {
        let bytes: [UInt8]
        do { bytes = try FileBytes.read(path, limit: 1 << 34) } catch {
            throw BatchOutputError(path: path, message: "cannot read the existing results: \(error.reasonDescription)")
        }
        guard let items = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [Any],
              items.allSatisfy({ item in
                  guard let object = item as? [String: Any] else { return false }
                  return Set(object.keys).subtracting(["image_id_bytes"]) == ["image_id", "caption"]
                      && JSONLine.path("image_id", in: object) != nil && object["caption"] is String
              }) else {
            throw BatchOutputError(path: path, message: "is not a COCO results array as glimpse batch writes it, so it is left "
                                   + "untouched; choose another --output")
        }
    }

    struct Parsed {
        var records: [BatchRecord] = []
        /// Bytes up to the end of the last complete record.
        var completeLength = 0
        /// Why the file is not this format's output (nil when it is).
        var problem: String?
    }

    // MARK: JSON Lines

    static func jsonLine(_ record: BatchRecord) -> String {
        var fields: [(String, JSONLine.Value)] = JSONLine.pathFields("path", record.path).map { ($0.0, .string($0.1)) }
        if let caption = record.caption { fields.append(("caption", .string(caption))) }
        if let logProbability = record.logProbability { fields.append(("logprob", .double(JSONNumber.rounded(logProbability)))) }
        // Only when true, so that the records of earlier runs (which lack it) are read alike.
        if record.truncated { fields.append(("truncated", .bool(true))) }
        if let familiarity = record.familiarity {
            fields.append(("unfamiliar", .bool(familiarity.unfamiliar)))
            fields.append(("familiarity_distance", .double(familiarity.distance)))
        }
        if let error = record.error { fields.append(("error", .string(error))) }
        return JSONLine.object(fields) + "\n"
    }

    /// The records of the complete lines. Every complete line must be a record as
    /// `jsonLine` writes it; a last line without its newline must begin as one.
    static func parseJSONLines(_ bytes: [UInt8]) -> Parsed {
        var parsed = Parsed()
        parsed.completeLength = (bytes.lastIndex(of: 0x0A).map { $0 + 1 }) ?? 0
        for (index, line) in bytes[..<parsed.completeLength].split(separator: 0x0A, omittingEmptySubsequences: false)
            .dropLast().enumerated() {
            guard let record = record(fromJSONLine: line) else {
                parsed.problem = "line \(index + 1) is not a glimpse batch record"
                return parsed
            }
            parsed.records.append(record)
        }
        let tail = bytes[parsed.completeLength...]
        let opening = Array("{\"path\":\"".utf8)
        if !tail.isEmpty && !(tail.starts(with: opening) || opening.starts(with: tail)) {
            parsed.problem = "its last line (\(parsed.records.count + 1)) has no line end and does not begin as a glimpse batch record"
        }
        return parsed
    }

    /// One line as `jsonLine` writes it: `path` (with `path_bytes` for a name that is not
    /// UTF-8) with `caption` and `logprob` (and `truncated`: true for a caption cut at
    /// --max-length; `unfamiliar` and `familiarity_distance` for a model with a feature summary),
    /// or with `error`.
    static func record(fromJSONLine line: ArraySlice<UInt8>) -> BatchRecord? {
        guard line.first == UInt8(ascii: "{"),
              let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
              let path = JSONLine.path("path", in: object) else { return nil }
        let keys = Set(object.keys).subtracting(["path_bytes"])
        if keys == ["path", "error"], let error = object["error"] as? String {
            return BatchRecord(path: path, error: error)
        }
        // A non-finite log-probability (a model with bad weights) is written as null.
        func isNumber(_ value: Any?) -> Bool { value is NSNull || (value is NSNumber && !(value is Bool)) }
        let truncated = object["truncated"] != nil, hasFamiliarity = object["unfamiliar"] != nil
        var expected: Set<String> = ["path", "caption", "logprob"]
        if truncated { expected.insert("truncated") }
        if hasFamiliarity { expected.formUnion(["unfamiliar", "familiarity_distance"]) }
        guard keys == expected, !truncated || object["truncated"] as? Bool == true,
              let caption = object["caption"] as? String, isNumber(object["logprob"]),
              !hasFamiliarity || (object["unfamiliar"] as? Bool != nil && isNumber(object["familiarity_distance"])) else { return nil }
        var record = BatchRecord(path: path, caption: caption, logProbability: (object["logprob"] as? NSNumber)?.doubleValue ?? .nan,
                                 truncated: truncated)
        if hasFamiliarity, let unfamiliar = object["unfamiliar"] as? Bool {
            record.familiarity = ((object["familiarity_distance"] as? NSNumber)?.doubleValue ?? .nan, unfamiliar)
        }
        return record
    }

    // MARK: CSV (RFC 4180: CRLF line ends, fields with commas, quotes or line breaks quoted, quotes doubled)

    static func csvLine(_ record: BatchRecord) -> String {
        let fields = [record.path, record.caption ?? "",
                      record.logProbability.map { String(JSONNumber.rounded($0)) } ?? "", record.error ?? ""]
        return fields.map(csvField).joined(separator: ",") + "\r\n"
    }

    /// Decided and escaped on bytes: Swift's characters would hide a "\r\n", or a comma or
    /// quote followed by a combining mark, inside one grapheme.
    static func csvField(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == 0x2C || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }) else { return text }
        var bytes: [UInt8] = [0x22]
        for byte in text.utf8 {
            bytes.append(byte)
            if byte == 0x22 { bytes.append(0x22) }
        }
        bytes.append(0x22)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The records of the complete rows (a row ends with a line break outside quotes). Every
    /// row must be a record as `csvLine` writes it, after the header exactly when this shard
    /// writes one; a last row without its line end is accepted only after such rows.
    static func parseCSV(_ bytes: [UInt8], headerExpected: Bool) -> Parsed {
        var parsed = Parsed()
        var rows: [[String]] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var quoted = false
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if quoted {
                if byte == 0x22 {
                    if index + 1 < bytes.count && bytes[index + 1] == 0x22 {
                        field.append(0x22)
                        index += 1
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(byte)
                }
            } else if byte == 0x22 {
                quoted = true
            } else if byte == 0x2C {
                fields.append(FileName.string(fromBytes: field))
                field = []
            } else if byte == 0x0A {
                if field.last == 0x0D { field.removeLast() }
                fields.append(FileName.string(fromBytes: field))
                rows.append(fields)
                fields = []
                field = []
                parsed.completeLength = index + 1
            } else {
                field.append(byte)
            }
            index += 1
        }
        for (index, row) in rows.enumerated() {
            if index == 0 && headerExpected {
                guard row.joined(separator: ",") == csvHeader else {
                    parsed.problem = "its first row is not the header \(csvHeader)"
                    return parsed
                }
                continue
            }
            guard let record = record(fromCSVRow: row) else {
                parsed.problem = row.joined(separator: ",") == csvHeader
                    ? "row \(index + 1) is a header, which only the first shard's file has"
                    : "row \(index + 1) is not a glimpse batch record"
                return parsed
            }
            parsed.records.append(record)
        }
        if parsed.completeLength < bytes.count && rows.isEmpty {
            parsed.problem = "it has no line end, so none of it is a glimpse batch record"
        }
        return parsed
    }

    /// One row as `csvLine` writes it: path, caption and logprob, or path and error.
    static func record(fromCSVRow row: [String]) -> BatchRecord? {
        guard row.count == 4, !row[0].isEmpty else { return nil }
        if !row[3].isEmpty {
            guard row[1].isEmpty, row[2].isEmpty else { return nil }
            return BatchRecord(path: row[0], error: row[3])
        }
        guard let logProbability = Double(row[2]) else { return nil }
        return BatchRecord(path: row[0], caption: row[1], logProbability: logProbability)
    }
}
