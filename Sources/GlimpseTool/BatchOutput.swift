import ArgumentParser
import Foundation
import GlimpseImage

/// One image's line in `glimpse batch`'s output: a caption or an error.
struct BatchRecord: Equatable {
    /// Relative to the captioned folder (stable across machines, COCO's image_id).
    var path: String
    var caption: String?
    var logProbability: Double?
    var error: String?
}

enum BatchFormat: String, ExpressibleByArgument, CaseIterable {
    case jsonl, csv, coco
}

/// A failure reading or writing the batch output, naming the file.
struct BatchOutputError: Error, CustomStringConvertible {
    let path: String
    let message: String
    var description: String { "\(path): \(message)" }
}

/// The output file of `glimpse batch`, appended batch by batch and read back to resume.
///
/// - JSON Lines and CSV are appended to the output itself, one `write(2)` per batch, so an
///   interruption loses at most the batch being written; a torn last line is cut off
///   before appending again, and its image is captioned again.
/// - COCO's results format is one JSON array, which cannot be appended to; progress goes
///   to a JSON Lines sidecar (`OUTPUT.progress.jsonl`, the resume state, kept) and the
///   array is written from it atomically at the end of every run.
final class BatchOutput {
    let path: String
    let format: BatchFormat
    /// Only the first shard's CSV has the header, so shard files concatenate with `cat`.
    let writesHeader: Bool
    private var handle: FileHandle?

    static let csvHeader = "path,caption,logprob,error"

    init(path: String, format: BatchFormat, writesHeader: Bool) {
        self.path = path
        self.format = format
        self.writesHeader = writesHeader
    }

    /// The file appended to: the output, or for COCO its sidecar.
    var progressPath: String { format == .coco ? path + ".progress.jsonl" : path }

    /// Records already written by earlier runs; cuts off a torn last record so appending resumes cleanly.
    func resume() throws(BatchOutputError) -> [BatchRecord] {
        let file = progressPath
        guard FileManager.default.fileExists(atPath: file) else { return [] }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw BatchOutputError(path: file, message: "cannot read the existing output to resume")
        }
        let bytes = [UInt8](data)
        let (records, completeLength, foreignLine) = format == .csv ? Self.parseCSV(bytes) : Self.parseJSONLines(bytes)
        // Appending our records to some other file (or another format's) would spoil both.
        if let foreignLine {
            throw BatchOutputError(path: file, message: "line \(foreignLine) is not a glimpse batch \(format.rawValue) record; "
                                   + "to resume, give the output of an earlier run with the same --format")
        }
        if completeLength < bytes.count {
            // The last record was cut (an interrupted run): drop it, its image is redone.
            guard truncate(file, off_t(completeLength)) == 0 else {
                throw BatchOutputError(path: file, message: "cannot cut the incomplete last line: \(String(cString: strerror(errno)))")
            }
        }
        return records
    }

    /// Appends records in one write, then flushes them to the file.
    func append(_ records: [BatchRecord]) throws(BatchOutputError) {
        let file = progressPath
        if handle == nil {
            if !FileManager.default.fileExists(atPath: file) {
                guard FileManager.default.createFile(atPath: file, contents: nil) else {
                    throw BatchOutputError(path: file, message: "cannot create the output file")
                }
            }
            guard let opened = FileHandle(forWritingAtPath: file) else {
                throw BatchOutputError(path: file, message: "cannot open the output file for writing")
            }
            handle = opened
            let end = (try? opened.seekToEnd()) ?? 0
            if format == .csv && end == 0 && writesHeader {
                try write(Self.csvHeader + "\r\n", to: opened, file: file)
            }
        }
        guard !records.isEmpty, let handle else { return }
        let text = records.map { format == .csv ? Self.csvLine($0) : Self.jsonLine($0) }.joined()
        try write(text, to: handle, file: file)
    }

    private func write(_ text: String, to handle: FileHandle, file: String) throws(BatchOutputError) {
        do {
            try handle.write(contentsOf: Data(text.utf8))
            try handle.synchronize()
        } catch {
            throw BatchOutputError(path: file, message: "cannot write: \((error as NSError).localizedDescription)")
        }
    }

    /// For COCO: the results array from every record in the sidecar, written atomically.
    func finish(allRecords: [BatchRecord]) throws(BatchOutputError) {
        try? handle?.close()
        handle = nil
        guard format == .coco else { return }
        let items: [[String: Any]] = allRecords.compactMap { record in
            record.caption.map { ["image_id": record.path, "caption": $0] }
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

    // MARK: JSON Lines

    static func jsonLine(_ record: BatchRecord) -> String {
        var fields: [(String, JSONLine.Value)] = [("path", .string(record.path))]
        if let caption = record.caption { fields.append(("caption", .string(caption))) }
        if let logProbability = record.logProbability { fields.append(("logprob", .double(JSONNumber.rounded(logProbability)))) }
        if let error = record.error { fields.append(("error", .string(error))) }
        return JSONLine.object(fields) + "\n"
    }

    /// Records of the complete lines, the length of the complete part, and the number of
    /// the first complete line that is not a record (nil when all are).
    static func parseJSONLines(_ bytes: [UInt8]) -> ([BatchRecord], Int, Int?) {
        let complete = (bytes.lastIndex(of: 0x0A).map { $0 + 1 }) ?? 0
        var records: [BatchRecord] = []
        for (index, line) in bytes[..<complete].split(separator: 0x0A, omittingEmptySubsequences: false).dropLast().enumerated() {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  let path = object["path"] as? String, object["caption"] is String || object["error"] is String else {
                return (records, complete, index + 1)
            }
            records.append(BatchRecord(path: path, caption: object["caption"] as? String,
                                       logProbability: (object["logprob"] as? NSNumber)?.doubleValue,
                                       error: object["error"] as? String))
        }
        return (records, complete, nil)
    }

    // MARK: CSV (RFC 4180: CRLF line ends, fields with commas, quotes or line breaks quoted, quotes doubled)

    static func csvLine(_ record: BatchRecord) -> String {
        let fields = [record.path, record.caption ?? "",
                      record.logProbability.map { String(JSONNumber.rounded($0)) } ?? "", record.error ?? ""]
        return fields.map(csvField).joined(separator: ",") + "\r\n"
    }

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Records of the complete rows (a row ends with a line break outside quotes), the
    /// header skipped, the length of the complete part, and the number of the first
    /// complete row that is not a record (nil when all are).
    static func parseCSV(_ bytes: [UInt8]) -> ([BatchRecord], Int, Int?) {
        var rowNumber = 0
        var foreign: Int?
        var records: [BatchRecord] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var quoted = false
        var complete = 0
        var index = 0
        func endRow() {
            fields.append(String(decoding: field, as: UTF8.self))
            field = []
            defer { fields = [] }
            rowNumber += 1
            if fields.count != 4 {
                if foreign == nil { foreign = rowNumber }
            } else if fields.joined(separator: ",") != csvHeader {
                records.append(BatchRecord(path: fields[0], caption: fields[1].isEmpty && !fields[3].isEmpty ? nil : fields[1],
                                           logProbability: Double(fields[2]), error: fields[3].isEmpty ? nil : fields[3]))
            }
        }
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
                fields.append(String(decoding: field, as: UTF8.self))
                field = []
            } else if byte == 0x0A {
                if field.last == 0x0D { field.removeLast() }
                endRow()
                complete = index + 1
            } else {
                field.append(byte)
            }
            index += 1
        }
        return (records, complete, foreign)
    }
}
