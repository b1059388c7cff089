import GlimpseSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Fixed-size records on disk, one per source file, made once and memory-mapped for
/// every later epoch and run: the one cache behind `ImageCache` (resized pixels) and the
/// training's feature cache (a frozen encoder's outputs).
///
/// Two files in `directory` per cache `name`:
/// - `NAME.bin`: slots of `slotBytes` bytes, memory-mapped for reading;
/// - `NAME.index`: one line per source file, `slot<TAB>size<TAB>mtime<TAB>path`
///   (or `error<TAB>size<TAB>mtime<TAB>path<TAB>reason` for a file whose record could not
///   be made), rewritten atomically after the slots it names are on disk.
///
/// An entry counts only while its file still has the same path, byte size and
/// modification time; a changed file gets a new slot. A run interrupted while filling
/// the cache loses only the slots its index never named; a full disk cuts those off
/// again; one filler at a time holds the data file's lock.
public final class SlotCache: @unchecked Sendable {
    public let directory: String
    public let dataPath: String
    public let indexPath: String
    public let slotBytes: Int
    /// What the records are, plural, for messages ("images").
    public let recordName: String

    /// Makes the records of some files, in the order given: each exactly `slotBytes` bytes,
    /// or why that file has none (it does not decode, say). Called from the filling thread,
    /// with at most `chunkSize` paths; it may use as many threads as it likes.
    public typealias Maker = (_ paths: [String]) -> [Result<[UInt8], MakingFailure>]

    /// Why a file has no record; remembered, so an unchanged bad file is not tried again.
    public struct MakingFailure: Error, Sendable {
        public var reason: String
        public init(_ reason: String) { self.reason = reason }
    }

    /// What the index says about one source file.
    struct Entry: Equatable {
        var size: Int64
        var modified: Int64   // nanoseconds since 1970
        var slot: Int?        // nil: no record could be made
        var failure: String?
    }

    /// By exact path: names that differ only in Unicode normalisation are different files.
    private var entries: [ExactPath: Entry] = [:]
    private var mapping: UnsafeMutableRawPointer?
    private var mappedBytes = 0

    /// Opens (or starts) the cache `name` in `directory`.
    public init(directory: String, name: String, slotBytes: Int, recordName: String = "records") throws(ImageCacheError) {
        precondition(slotBytes > 0, "a slot needs at least one byte")
        self.directory = directory
        dataPath = directory + "/" + name + ".bin"
        indexPath = directory + "/" + name + ".index"
        self.slotBytes = slotBytes
        self.recordName = recordName
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ImageCacheError(path: directory, reason: "cannot create the cache folder: \((error as NSError).localizedDescription)")
        }
        try loadIndex()
        try remap()
    }

    deinit { unmap() }

    /// The outcome of `fill`.
    public struct FillReport: Sendable, Equatable {
        /// Records made now.
        public var decoded = 0
        /// Files already in the cache.
        public var reused = 0
        /// Files that have no record, with the reason (also remembered in the index).
        public var failures: [Failure] = []
    }

    /// A source file without a record.
    public struct Failure: Sendable, Equatable, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// Makes the record of every file in `paths` that the cache does not hold yet, `chunkSize`
    /// files per call of `make`; the index is saved after each chunk. `progress(done, total)`
    /// is called from the calling thread.
    @discardableResult
    public func fill(_ paths: [String], chunkSize: Int, make: Maker,
                     progress: ((Int, Int) -> Void)? = nil) throws(ImageCacheError) -> FillReport {
        var (report, pending) = partition(paths)
        if pending.isEmpty { return report }

        let descriptor = open(dataPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw ImageCacheError(path: dataPath, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        // One filler at a time (runs may share a cache folder); the lock goes with the descriptor.
        switch FileLock.tryExclusive(descriptor) {
        case .success: break
        case .failure(.held(let holder)):
            throw ImageCacheError(path: dataPath, reason: "another run is filling this cache (\(holder?.description ?? "its process is not listed")); "
                                  + "wait for it to finish, or give this run another --cache-dir")
        case .failure(.system(let message)):
            throw ImageCacheError(path: dataPath, reason: "cannot lock: \(message)")
        }
        // What another run added since this cache was opened counts too (and is not debris).
        let known = entries
        try loadIndex()
        if entries != known {
            (report, pending) = partition(paths)
            if pending.isEmpty {
                try remap()
                return report
            }
        }
        report = try fill(pending: pending, report: report, chunkSize: max(1, chunkSize), make: make,
                          progress: progress, descriptor: descriptor)
        try remap()
        return report
    }

    /// The files the cache holds (or knows to have no record) and those it must make.
    private func partition(_ paths: [String]) -> (FillReport, [(path: String, stamp: (size: Int64, modified: Int64)?)]) {
        var report = FillReport()
        var pending: [(path: String, stamp: (size: Int64, modified: Int64)?)] = []
        var seen = Set<ExactPath>()
        for path in paths where seen.insert(ExactPath(path)).inserted {
            let stamp = Self.stamp(of: path)
            if let stamp, let entry = entries[ExactPath(path)], entry.size == stamp.size, entry.modified == stamp.modified {
                if entry.slot != nil {
                    report.reused += 1
                } else {
                    report.failures.append(Failure(path: path, reason: entry.failure ?? "could not be decoded"))
                }
                continue
            }
            pending.append((path, stamp))
        }
        return (report, pending)
    }

    /// Stands in for `pwrite` in tests: returns an errno to fail the write of a slot with.
    var writeFault: ((_ slot: Int) -> Int32?)?

    private func fill(pending: [(path: String, stamp: (size: Int64, modified: Int64)?)], report: FillReport,
                      chunkSize: Int, make: Maker, progress: ((Int, Int) -> Void)?,
                      descriptor: Int32) throws(ImageCacheError) -> FillReport {
        var report = report
        // New slots go after the last slot the index names; anything beyond is debris
        // from an interrupted run.
        var nextSlot = (entries.values.compactMap(\.slot).max() ?? -1) + 1
        if ftruncate(descriptor, off_t(nextSlot * slotBytes)) != 0 {
            throw ImageCacheError(path: dataPath, reason: String(cString: strerror(errno)))
        }
        /// A write failed (a full disk): the slots no index names are cut off again, so the
        /// data file holds only what the index describes.
        func writeFailure(_ message: String) -> ImageCacheError {
            let named = (entries.values.compactMap(\.slot).max() ?? -1) + 1
            let removed = ftruncate(descriptor, off_t(named * slotBytes)) == 0
            return ImageCacheError(path: dataPath, reason: "cannot write: \(message)"
                                   + (removed ? "; the \(recordName) written part way were removed" : ""))
        }
        var done = 0
        for chunkStart in stride(from: 0, to: pending.count, by: chunkSize) {
            let chunk = Array(pending[chunkStart..<min(pending.count, chunkStart + chunkSize)])
            let results = make(chunk.map(\.path))
            precondition(results.count == chunk.count, "the maker returned \(results.count) records for \(chunk.count) files")
            // Slots of failed files stay as holes; the index never points at them.
            let firstSlot = nextSlot
            nextSlot += chunk.count
            for (index, result) in results.enumerated() {
                guard case .success(let bytes) = result else { continue }
                precondition(bytes.count == slotBytes, "a record of \(bytes.count) bytes for slots of \(slotBytes)")
                let failure = writeFault?(firstSlot + index)
                    ?? bytes.withUnsafeBytes { Self.writeFully(descriptor, $0.baseAddress!, slotBytes, at: (firstSlot + index) * slotBytes) }
                if let failure { throw writeFailure(String(cString: strerror(failure))) }
            }
            if fsync(descriptor) != 0 { throw writeFailure(String(cString: strerror(errno))) }
            for (index, item) in chunk.enumerated() {
                let stamp = item.stamp ?? (size: -1, modified: -1)
                switch results[index] {
                case .success:
                    entries[ExactPath(item.path)] = Entry(size: stamp.size, modified: stamp.modified, slot: firstSlot + index)
                    report.decoded += 1
                case .failure(let failure):
                    entries[ExactPath(item.path)] = Entry(size: stamp.size, modified: stamp.modified, slot: nil,
                                                          failure: failure.reason)
                    report.failures.append(Failure(path: item.path, reason: failure.reason))
                }
            }
            do {
                try saveIndex()
            } catch {
                for item in chunk { entries[ExactPath(item.path)] = nil }
                throw writeFailure("the index: \(error.reason)")
            }
            done += chunk.count
            progress?(done, pending.count)
        }
        return report
    }

    /// The record of `path`, if the cache holds one for the file as it is now on disk.
    /// The buffer stays valid until the next `fill`.
    public func slot(for path: String) -> UnsafeRawBufferPointer? {
        guard let entry = entries[ExactPath(path)], let slot = entry.slot, let mapping,
              (slot + 1) * slotBytes <= mappedBytes else { return nil }
        return UnsafeRawBufferPointer(start: mapping.advanced(by: slot * slotBytes), count: slotBytes)
    }

    /// Whether the cache holds a record for `path` as it is on disk now.
    public func contains(_ path: String) -> Bool {
        guard let entry = entries[ExactPath(path)], entry.slot != nil, let stamp = Self.stamp(of: path) else { return false }
        return entry.size == stamp.size && entry.modified == stamp.modified
    }

    // MARK: - Index and mapping

    /// Writes `count` bytes at `offset` in as many `pwrite`s as it takes; the errno of the
    /// failure, or nil. (A full disk first shortens a write, then fails the next one with ENOSPC.)
    static func writeFully(_ descriptor: Int32, _ base: UnsafeRawPointer, _ count: Int, at offset: Int) -> Int32? {
        var done = 0
        while done < count {
            let written = pwrite(descriptor, base + done, count - done, off_t(offset + done))
            if written < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if written == 0 { return EIO }
            done += written
        }
        return nil
    }

    static func stamp(of path: String) -> (size: Int64, modified: Int64)? {
        var status = stat()
        guard FileName.withSystemPath(path, { stat($0, &status) }) == 0 else { return nil }
        let nanoseconds = Int64(status.st_mtim.tv_sec) * 1_000_000_000 + Int64(status.st_mtim.tv_nsec)
        return (Int64(status.st_size), nanoseconds)
    }

    private func loadIndex() throws(ImageCacheError) {
        guard FileManager.default.fileExists(atPath: indexPath) else { return }
        let text: String
        do {
            text = try String(contentsOfFile: indexPath, encoding: .utf8)
        } catch {
            throw ImageCacheError(path: indexPath, reason: "cannot read the cache index: \((error as NSError).localizedDescription)")
        }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            // A damaged line is dropped: its image is simply decoded again.
            guard fields.count >= 4, let size = Int64(fields[1]), let modified = Int64(fields[2]) else { continue }
            let path = Self.unescape(fields[3])
            if fields[0] == "error" {
                entries[ExactPath(path)] = Entry(size: size, modified: modified, slot: nil,
                                      failure: fields.count > 4 ? Self.unescape(fields[4]) : "")
            } else if let slot = Int(fields[0]), slot >= 0 {
                entries[ExactPath(path)] = Entry(size: size, modified: modified, slot: slot)
            }
        }
    }

    private func saveIndex() throws(ImageCacheError) {
        var text = ""
        for (key, entry) in entries.sorted(by: { $0.key < $1.key }) {
            let path = key.path
            if let slot = entry.slot {
                text += "\(slot)\t\(entry.size)\t\(entry.modified)\t\(Self.escape(path))\n"
            } else {
                text += "error\t\(entry.size)\t\(entry.modified)\t\(Self.escape(path))\t\(Self.escape(entry.failure ?? ""))\n"
            }
        }
        do {
            try FileBytes.writeAtomically(Array(text.utf8), to: indexPath)
        } catch {
            throw ImageCacheError(path: indexPath, reason: error.message)
        }
    }

    private func remap() throws(ImageCacheError) {
        unmap()
        guard let stamp = Self.stamp(of: dataPath), stamp.size > 0 else { return }
        let descriptor = open(dataPath, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ImageCacheError(path: dataPath, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        let length = Int(stamp.size)
        guard let address = mmap(nil, length, PROT_READ, MAP_SHARED, descriptor, 0), address != MAP_FAILED else {
            throw ImageCacheError(path: dataPath, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        mapping = address
        mappedBytes = length
    }

    private func unmap() {
        if let mapping { munmap(mapping, mappedBytes) }
        mapping = nil
        mappedBytes = 0
    }

    static func escape(_ text: String) -> String {
        var output = ""
        for character in text {
            switch character {
            case "\\": output += "\\\\"
            case "\t": output += "\\t"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            default: output.append(character)
            }
        }
        return output
    }

    static func unescape(_ text: String) -> String {
        var output = ""
        var escaping = false
        for character in text {
            if escaping {
                switch character {
                case "t": output += "\t"
                case "n": output += "\n"
                case "r": output += "\r"
                default: output.append(character)
                }
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else {
                output.append(character)
            }
        }
        return output
    }
}


/// The cache itself could not be used (its folder or files).
public struct ImageCacheError: Error, Equatable, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): image cache: \(reason)" }
}
