import GlimpseSupport
import Dispatch
import Foundation
import GlimpseImage
#if canImport(Glibc)
import Glibc
#endif

/// Decoded, resized training images on disk, so that later epochs never decode again.
///
/// Two files in `directory` per image size S:
/// - `pixels-S.bin`: fixed-size slots of S·S·3 bytes (interleaved RGB, rows of S
///   pixels), memory-mapped for reading;
/// - `pixels-S.index`: one line per source file, `slot<TAB>size<TAB>mtime<TAB>path`
///   (or `error<TAB>size<TAB>mtime<TAB>path<TAB>reason` for a file that failed to
///   decode), rewritten atomically after the pixels it names are on disk.
///
/// An entry counts only while its file still has the same path, byte size and
/// modification time; a changed file is decoded again into a new slot. A run
/// interrupted while filling the cache loses only the slots its index never named.
public final class ImageCache: @unchecked Sendable {
    public let directory: String
    public let preprocessing: Preprocessing
    public var imageSize: Int { preprocessing.imageSize }
    public var slotBytes: Int { imageSize * imageSize * 3 }

    /// What the index says about one source file.
    struct Entry: Equatable {
        var size: Int64
        var modified: Int64   // nanoseconds since 1970
        var slot: Int?        // nil: the file failed to decode
        var failure: String?
    }

    /// By exact path: names that differ only in Unicode normalisation are different files.
    private var entries: [ExactPath: Entry] = [:]
    private var mapping: UnsafeMutableRawPointer?
    private var mappedBytes = 0

    public var pixelsPath: String { directory + "/pixels-\(imageSize).bin" }
    public var indexPath: String { directory + "/pixels-\(imageSize).index" }

    /// Opens (or starts) the cache in `directory` for images resized by `preprocessing`.
    public init(directory: String, preprocessing: Preprocessing) throws(ImageCacheError) {
        self.directory = directory
        self.preprocessing = preprocessing
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
        /// Files decoded now.
        public var decoded = 0
        /// Files already in the cache.
        public var reused = 0
        /// Files that could not be read, with the reason (also remembered in the index,
        /// so an unchanged bad file is not decoded again).
        public var failures: [Failure] = []
    }

    /// A source file that could not be decoded.
    public struct Failure: Sendable, Equatable, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// Decodes and resizes every file in `paths` that the cache does not hold yet,
    /// on `threads` threads. `progress(done, total)` is called from the calling thread.
    @discardableResult
    public func fill(_ paths: [String], decoder: ImageDecoder = ImageDecoder(), threads: Int = 2,
                     progress: ((Int, Int) -> Void)? = nil) throws(ImageCacheError) -> FillReport {
        /// The files the cache holds (or knows to be bad) and those it must decode.
        func partition() -> (FillReport, [(path: String, stamp: (size: Int64, modified: Int64)?)]) {
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
        var (report, pending) = partition()
        if pending.isEmpty { return report }

        let descriptor = open(pixelsPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw ImageCacheError(path: pixelsPath, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        // One filler at a time (runs may share a cache folder); the lock goes with the descriptor.
        switch FileLock.tryExclusive(descriptor) {
        case .success: break
        case .failure(.held(let holder)):
            throw ImageCacheError(path: pixelsPath, reason: "another run is filling this cache (\(holder?.description ?? "its process is not listed")); "
                                  + "wait for it to finish, or give this run another --cache-dir")
        case .failure(.system(let message)):
            throw ImageCacheError(path: pixelsPath, reason: "cannot lock: \(message)")
        }
        // What another run added since this cache was opened counts too (and is not debris).
        let known = entries
        try loadIndex()
        if entries != known {
            (report, pending) = partition()
            if pending.isEmpty {
                try remap()
                return report
            }
        }
        return try fill(pending: pending, report: report, decoder: decoder, threads: threads, progress: progress,
                        descriptor: descriptor)
    }

    /// Stands in for `pwrite` in tests: returns an errno to fail the write of a slot with.
    var writeFault: ((_ slot: Int) -> Int32?)?

    private func fill(pending: [(path: String, stamp: (size: Int64, modified: Int64)?)], report: FillReport,
                      decoder: ImageDecoder, threads: Int, progress: ((Int, Int) -> Void)?,
                      descriptor: Int32) throws(ImageCacheError) -> FillReport {
        var report = report
        // New slots go after the last slot the index names; anything beyond is debris
        // from an interrupted run.
        var nextSlot = (entries.values.compactMap(\.slot).max() ?? -1) + 1
        if ftruncate(descriptor, off_t(nextSlot * slotBytes)) != 0 {
            throw ImageCacheError(path: pixelsPath, reason: String(cString: strerror(errno)))
        }
        /// A write failed (a full disk): the slots no index names are cut off again, so the
        /// cache file holds only what the index describes.
        func writeFailure(_ message: String) -> ImageCacheError {
            let named = (entries.values.compactMap(\.slot).max() ?? -1) + 1
            let removed = ftruncate(descriptor, off_t(named * slotBytes)) == 0
            return ImageCacheError(path: pixelsPath, reason: "cannot write: \(message)"
                                   + (removed ? "; the images written part way were removed" : ""))
        }

        // Work in chunks so the index is saved regularly and progress is reported.
        let chunkSize = max(64, threads * 32)
        var done = 0
        for chunkStart in stride(from: 0, to: pending.count, by: chunkSize) {
            let chunk = Array(pending[chunkStart..<min(pending.count, chunkStart + chunkSize)])
            let firstSlot = nextSlot
            let results = ResultBox(count: chunk.count)
            let slotBytes = slotBytes, preprocessing = preprocessing
            DispatchQueue.concurrentPerform(iterations: threads) { worker in
                for index in stride(from: worker, to: chunk.count, by: threads) {
                    do throws(ImageDecodingError) {
                        let image = try decoder.decode(contentsOf: chunk[index].path).image
                        let resized = preprocessing.resized(image)
                        let offset = (firstSlot + index) * slotBytes
                        let failure = writeFault?(firstSlot + index)
                            ?? resized.pixels.withUnsafeBytes { Self.writeFully(descriptor, $0.baseAddress!, slotBytes, at: offset) }
                        results.set(index, failure.map { .failure(.writeFailed(String(cString: strerror($0)))) } ?? .success(()))
                    } catch {
                        results.set(index, .failure(.decode(error)))
                    }
                }
            }
            // Slots of failed files stay as holes; the index never points at them.
            nextSlot += chunk.count
            if fsync(descriptor) != 0 { throw writeFailure(String(cString: strerror(errno))) }
            for (index, item) in chunk.enumerated() {
                let stamp = item.stamp ?? (size: -1, modified: -1)
                switch results.get(index) {
                case .success:
                    entries[ExactPath(item.path)] = Entry(size: stamp.size, modified: stamp.modified, slot: firstSlot + index)
                    report.decoded += 1
                case .failure(.decode(let error)):
                    entries[ExactPath(item.path)] = Entry(size: stamp.size, modified: stamp.modified, slot: nil,
                                               failure: error.reasonDescription)
                    report.failures.append(Failure(path: item.path, reason: error.reasonDescription))
                case .failure(.writeFailed(let message)):
                    // This chunk's entries are dropped with its slots.
                    for item in chunk { entries[ExactPath(item.path)] = nil }
                    throw writeFailure(message)
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
        try remap()
        return report
    }

    /// The S·S·3 resized pixels of `path`, if the cache holds them for the file as it
    /// is now on disk. The buffer stays valid until the next `fill`.
    public func pixels(for path: String) -> UnsafeBufferPointer<UInt8>? {
        guard let entry = entries[ExactPath(path)], let slot = entry.slot, let mapping,
              (slot + 1) * slotBytes <= mappedBytes else { return nil }
        let base = mapping.advanced(by: slot * slotBytes).assumingMemoryBound(to: UInt8.self)
        return UnsafeBufferPointer(start: base, count: slotBytes)
    }

    /// Whether the cache holds a decoded image for `path` as it is on disk now.
    public func contains(_ path: String) -> Bool {
        guard let entry = entries[ExactPath(path)], entry.slot != nil, let stamp = Self.stamp(of: path) else { return false }
        return entry.size == stamp.size && entry.modified == stamp.modified
    }

    // MARK: - Index and mapping

    private enum SlotFailure: Error { case decode(ImageDecodingError), writeFailed(String) }

    /// Results written by worker threads, each to its own index.
    private final class ResultBox: @unchecked Sendable {
        private var results: [Result<Void, SlotFailure>]
        private let lock = NSLock()
        init(count: Int) { results = Array(repeating: .success(()), count: count) }
        func set(_ index: Int, _ result: Result<Void, SlotFailure>) { lock.lock(); results[index] = result; lock.unlock() }
        func get(_ index: Int) -> Result<Void, SlotFailure> { lock.lock(); defer { lock.unlock() }; return results[index] }
    }

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
        guard let stamp = Self.stamp(of: pixelsPath), stamp.size > 0 else { return }
        let descriptor = open(pixelsPath, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ImageCacheError(path: pixelsPath, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        let length = Int(stamp.size)
        guard let address = mmap(nil, length, PROT_READ, MAP_SHARED, descriptor, 0), address != MAP_FAILED else {
            throw ImageCacheError(path: pixelsPath, reason: "mmap failed: \(String(cString: strerror(errno)))")
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
