#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a file could not be read: the path and the cause.
public struct FileReadError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        /// The system's reason, or what the file is when it is not a regular file.
        case unreadable(String)
        /// Refused before reading: above the caller's limit.
        case tooLarge(bytes: Int, limit: Int)
    }
    public let path: String
    public let reason: Reason

    public var reasonDescription: String {
        switch reason {
        case .unreadable(let message): return "cannot read file: \(message)"
        case .tooLarge(let bytes, let limit): return "file too large: \(bytes) bytes, above the limit of \(limit)"
        }
    }
    public var description: String { "\(path): \(reasonDescription)" }
}

/// The one file reader and the one atomic writer, with POSIX calls, so that every failure
/// carries the system's own reason (`strerror`); names of any bytes (`FileName`).
public enum FileBytes {
    /// Reads a regular file whole, refusing files above `limit` bytes before reading.
    public static func read(_ path: String, limit: Int) throws(FileReadError) -> [UInt8] {
        let (bytes, _) = try readPrefix(path, count: Int.max, limit: limit)
        return bytes
    }

    /// The first `count` bytes of a regular file (fewer if it is shorter), and its size. Only a
    /// regular file is read: O_NONBLOCK lets the open of a FIFO without a writer return at once,
    /// to be refused with its kind, instead of waiting forever. A file above `limit` bytes is
    /// refused before any byte is read.
    public static func readPrefix(_ path: String, count: Int, limit: Int = Int.max) throws(FileReadError) -> (bytes: [UInt8], fileByteCount: Int) {
        func failure(_ message: String) -> FileReadError { FileReadError(path: path, reason: .unreadable(message)) }
        let descriptor = FileName.withSystemPath(path) { open($0, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY) }
        if descriptor < 0 { throw failure(systemMessage(errno)) }
        defer { close(descriptor) }
        var status = stat()
        if fstat(descriptor, &status) != 0 { throw failure(systemMessage(errno)) }
        if (status.st_mode & S_IFMT) == S_IFDIR { throw failure("is a directory") }
        if (status.st_mode & S_IFMT) != S_IFREG { throw failure("not a regular file (\(fileKind(status.st_mode)))") }
        let size = Int(status.st_size)
        if size > limit { throw FileReadError(path: path, reason: .tooLarge(bytes: size, limit: limit)) }
        let wanted = min(max(count, 0), size)
        var readError: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: wanted) { buffer, initialized in
            if wanted > 0 { adviseHugePages(buffer.baseAddress!, count: wanted) }
            var total = 0
            while total < wanted {
                let got = Glibc.read(descriptor, buffer.baseAddress! + total, wanted - total)
                if got < 0 {
                    if errno == EINTR { continue }
                    readError = errno
                    break
                }
                if got == 0 { break }  // the file shrank while we read it; the caller's checks report the cut
                total += got
            }
            initialized = total
        }
        if readError != 0 { throw failure(systemMessage(readError)) }
        return (bytes, size)
    }

    /// Asks for transparent huge pages on the 2 MiB-aligned interior of a large buffer before
    /// it is first written: each 2 MiB then costs one page fault instead of 512, which is
    /// most of the time a checkpoint read takes in these VMs. Advice only.
    static func adviseHugePages(_ start: UnsafeMutableRawPointer, count: Int) {
        #if os(Linux)
        let hugePage = 2 << 20
        let first = (Int(bitPattern: start) + hugePage - 1) / hugePage * hugePage
        let end = (Int(bitPattern: start) + count) / hugePage * hugePage
        guard end > first, let aligned = UnsafeMutableRawPointer(bitPattern: first) else { return }
        _ = madvise(aligned, end - first, MADV_HUGEPAGE)
        #endif
    }

    /// Whether `path` names a regular file (after symbolic links), found without opening it.
    public static func isRegularFile(_ path: String) -> Bool {
        var status = stat()
        return FileName.withSystemPath(path, { stat($0, &status) }) == 0 && (status.st_mode & S_IFMT) == S_IFREG
    }

    /// What `path` is when it exists and is neither a regular file nor a folder ("a FIFO",
    /// "a socket", a device), found without opening it; nil otherwise.
    public static func specialFileKind(_ path: String) -> String? {
        var status = stat()
        guard FileName.withSystemPath(path, { stat($0, &status) }) == 0 else { return nil }
        let type = status.st_mode & S_IFMT
        return type == S_IFREG || type == S_IFDIR ? nil : fileKind(status.st_mode)
    }

    /// What a file that is not a regular file is, in words.
    public static func fileKind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        default: return "not a file"
        }
    }

    /// Writes `bytes` to `path` atomically: a temporary file in the same folder is
    /// written, flushed and renamed over `path`, so readers see the old file or the
    /// new one, never half of one.
    /// Writes a file atomically: the bytes `produce` hands to its sink go to a temporary file
    /// beside `path` (`.NAME.tmp-XXXXXX`), which is synced, renamed over `path`, and the rename
    /// synced with its folder. On any failure `path` is left as it was and the temporary file
    /// removed. `produce` stops early when its sink returns false (a write failed).
    public static func writeAtomically(
        to path: String, _ produce: (_ sink: (UnsafeRawBufferPointer) -> Bool) -> Void
    ) throws(FileWriteError) {
        let directory = parentDirectory(of: path)
        let base = path.split(separator: "/").last.map(String.init) ?? path
        var template = FileName.bytes("\(directory)/.\(base).tmp-XXXXXX").map { CChar(bitPattern: $0) } + [0]
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        if descriptor < 0 {
            throw FileWriteError(path: path, message: "cannot create a temporary file in \(directory): \(systemMessage(errno))")
        }
        let temporaryPath = FileName.string(fromBytes: template.dropLast().map { UInt8(bitPattern: $0) })
        var failure: String?
        produce { chunk in
            guard failure == nil else { return false }
            var written = 0
            while written < chunk.count {
                let count = write(descriptor, chunk.baseAddress! + written, chunk.count - written)
                if count < 0 {
                    if errno == EINTR { continue }
                    failure = systemMessage(errno)
                    return false
                }
                written += count
            }
            return true
        }
        if failure == nil, fchmod(descriptor, 0o644) != 0 { failure = systemMessage(errno) }
        if failure == nil, fsync(descriptor) != 0 { failure = systemMessage(errno) }
        if close(descriptor) != 0, failure == nil { failure = systemMessage(errno) }
        if failure == nil, FileName.withSystemPath(temporaryPath, { from in FileName.withSystemPath(path) { rename(from, $0) } }) != 0 {
            failure = systemMessage(errno)
        }
        if let failure {
            FileName.withSystemPath(temporaryPath) { _ = unlink($0) }
            throw FileWriteError(path: path, message: failure)
        }
        // Best effort: some file systems refuse fsync on a folder.
        let folder = FileName.withSystemPath(directory) { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        if folder >= 0 {
            _ = fsync(folder)
            close(folder)
        }
    }

    public static func writeAtomically(_ bytes: UnsafeRawBufferPointer, to path: String) throws(FileWriteError) {
        try writeAtomically(to: path) { sink in _ = bytes.count == 0 || sink(bytes) }
    }

    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws(FileWriteError) {
        try bytes.withBytes { (buffer) throws(FileWriteError) in try writeAtomically(buffer, to: path) }
    }

    /// Makes the folder and any missing parents, like `mkdir -p`, for any name `FileName` holds.
    public static func makeDirectories(_ path: String) throws(FileWriteError) {
        var status = stat()
        if FileName.withSystemPath(path, { stat($0, &status) }) == 0 {
            guard (status.st_mode & S_IFMT) == S_IFDIR else { throw FileWriteError(path: path, message: "exists and is not a folder") }
            return
        }
        let parent = parentDirectory(of: path)
        if parent != path && parent != "." && parent != "/" { try makeDirectories(parent) }
        if FileName.withSystemPath(path, { mkdir($0, 0o755) }) != 0 && errno != EEXIST {
            throw FileWriteError(path: path, message: "cannot create the folder: \(systemMessage(errno))")
        }
    }

    public static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let parent = String(path[..<slash])
        return parent.isEmpty ? "/" : parent
    }

    public static func systemMessage(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}

/// A file could not be written; the destination is left as it was.
public struct FileWriteError: Error, Equatable, Sendable, CustomStringConvertible {
    public let path: String
    public let message: String
    public var description: String { "\(path): cannot write: \(message)" }
}

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` that keeps the body's typed error (the standard library's
    /// version rethrows `any Error`).
    public func withBytes<Value, Failure: Error>(
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Value
    ) throws(Failure) -> Value {
        let result: Result<Value, Failure> = withUnsafeBytes { buffer in
            Result { () throws(Failure) -> Value in try body(buffer) }
        }
        return try result.get()
    }
}
