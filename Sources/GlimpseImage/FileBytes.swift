#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file reads and atomic writes with POSIX calls, so that every failure
/// carries the system's own reason (`strerror`).
public enum FileBytes {
    /// Reads a regular file whole, refusing files above `limit` bytes before reading.
    public static func read(_ path: String, limit: Int) throws(ImageDecodingError) -> [UInt8] {
        // O_NONBLOCK: opening a FIFO without a writer returns at once (and is refused below
        // as not a regular file) instead of waiting forever; reads of regular files ignore it.
        let descriptor = FileName.withSystemPath(path) { open($0, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY) }
        if descriptor < 0 {
            throw ImageDecodingError(path: path, reason: .unreadable(systemMessage(errno)))
        }
        defer { close(descriptor) }
        var status = stat()
        if fstat(descriptor, &status) != 0 {
            throw ImageDecodingError(path: path, reason: .unreadable(systemMessage(errno)))
        }
        if (status.st_mode & S_IFMT) == S_IFDIR {
            throw ImageDecodingError(path: path, reason: .unreadable("is a directory"))
        }
        if (status.st_mode & S_IFMT) != S_IFREG {
            throw ImageDecodingError(path: path, reason: .unreadable("not a regular file (\(fileKind(status.st_mode)))"))
        }
        let size = Int(status.st_size)
        if size > limit {
            throw ImageDecodingError(path: path, reason: .fileTooLarge(bytes: size, limit: limit))
        }
        var readError: Int32 = 0
        var bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            var total = 0
            while total < size {
                let count = Glibc.read(descriptor, buffer.baseAddress! + total, size - total)
                if count < 0 {
                    if errno == EINTR { continue }
                    readError = errno
                    break
                }
                if count == 0 { break }  // the file shrank while we read it
                total += count
            }
            initialized = total
        }
        if readError != 0 {
            throw ImageDecodingError(path: path, reason: .unreadable(systemMessage(readError)))
        }
        bytes.reserveCapacity(0)
        return bytes
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
    static func fileKind(_ mode: mode_t) -> String {
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
    public static func writeAtomically(_ bytes: UnsafeRawBufferPointer, to path: String) throws(FileWriteError) {
        let directory = parentDirectory(of: path)
        let base = path.split(separator: "/").last.map(String.init) ?? path
        var template = FileName.bytes("\(directory)/.\(base).tmp-XXXXXX").map { CChar(bitPattern: $0) } + [0]
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        if descriptor < 0 {
            throw FileWriteError(path: path, message: "cannot create a temporary file in \(directory): \(systemMessage(errno))")
        }
        let temporaryPath = FileName.string(fromBytes: template.dropLast().map { UInt8(bitPattern: $0) })
        var failure: String?
        var written = 0
        while written < bytes.count {
            let count = write(descriptor, bytes.baseAddress! + written, bytes.count - written)
            if count < 0 {
                if errno == EINTR { continue }
                failure = systemMessage(errno)
                break
            }
            written += count
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
        // The rename itself made durable, as POSIXFile (the safetensors writer) does. Best
        // effort: some file systems refuse fsync on a folder.
        let folder = FileName.withSystemPath(directory) { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        if folder >= 0 {
            _ = fsync(folder)
            close(folder)
        }
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
    func withBytes<Value, Failure: Error>(
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Value
    ) throws(Failure) -> Value {
        let result: Result<Value, Failure> = withUnsafeBytes { buffer in
            Result { () throws(Failure) -> Value in try body(buffer) }
        }
        return try result.get()
    }
}
