#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file reads and atomic writes with POSIX calls, so that every failure
/// carries the system's own reason (`strerror`). Kept here rather than shared so
/// that this target depends on nothing.
enum POSIXFile {
    /// Reads a regular file whole.
    static func read(_ path: String) throws(SafeTensorsError) -> [UInt8] {
        try readPrefix(path, count: Int.max).bytes
    }

    /// The first `count` bytes of a regular file (fewer if it is shorter), and its size. Only a
    /// regular file is read: O_NONBLOCK lets the open of a FIFO without a writer return at once,
    /// to be refused as not a regular file, instead of waiting forever.
    static func readPrefix(_ path: String, count: Int) throws(SafeTensorsError) -> (bytes: [UInt8], fileByteCount: Int) {
        func failure(_ message: String) -> SafeTensorsError {
            SafeTensorsError(path: path, reason: .unreadable(message))
        }
        // A NUL marks a name that is not UTF-8 (GlimpseImage's FileName); this module opens
        // UTF-8 names only, and a C string cut at the NUL would name another file.
        guard !path.utf8.contains(0) else { throw failure("the file name is not valid UTF-8; give the file a UTF-8 name") }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        if descriptor < 0 { throw failure(systemMessage(errno)) }
        defer { close(descriptor) }
        var status = stat()
        if fstat(descriptor, &status) != 0 { throw failure(systemMessage(errno)) }
        if (status.st_mode & S_IFMT) == S_IFDIR { throw failure("is a directory") }
        if (status.st_mode & S_IFMT) != S_IFREG { throw failure("not a regular file (\(fileKind(status.st_mode)))") }
        let size = Int(status.st_size)
        let wanted = min(max(count, 0), size)
        var readError: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: wanted) { buffer, initialized in
            if wanted > 0 { adviseHugePages(buffer.baseAddress!, count: wanted) }
            var total = 0
            while total < wanted {
                let got = systemRead(descriptor, buffer.baseAddress! + total, wanted - total)
                if got < 0 {
                    if errno == EINTR { continue }
                    readError = errno
                    break
                }
                if got == 0 { break }  // the file shrank while we read it; validation reports the cut
                total += got
            }
            initialized = total
        }
        if readError != 0 { throw failure(systemMessage(readError)) }
        return (bytes, size)
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

    /// Writes the chunks that `produce` hands to its sink into `path` atomically:
    /// a temporary file in the same directory is written, flushed with `fsync` and
    /// renamed over `path`, so readers see the old file or the new one, never half
    /// of one. The directory is then synced so that the rename itself survives a crash.
    static func writeAtomically(
        to path: String,
        _ produce: (_ sink: (UnsafeRawBufferPointer) -> Bool) -> Void
    ) throws(SafeTensorsError) {
        func failure(_ message: String) -> SafeTensorsError {
            SafeTensorsError(path: path, reason: .writeFailed(message))
        }
        guard !path.utf8.contains(0) else { throw failure("the file name is not valid UTF-8; give the file a UTF-8 name") }
        let directory = parentDirectory(of: path)
        let base = path.split(separator: "/").last.map(String.init) ?? path
        var template = Array("\(directory)/.\(base).tmp-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        if descriptor < 0 {
            throw failure("cannot create a temporary file in \(directory): \(systemMessage(errno))")
        }
        let temporaryPath = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var message: String?
        produce { chunk in
            guard message == nil else { return false }
            var written = 0
            while written < chunk.count {
                let count = write(descriptor, chunk.baseAddress! + written, chunk.count - written)
                if count < 0 {
                    if errno == EINTR { continue }
                    message = systemMessage(errno)
                    return false
                }
                written += count
            }
            return true
        }
        if message == nil, fchmod(descriptor, 0o644) != 0 { message = systemMessage(errno) }
        if message == nil, fsync(descriptor) != 0 { message = systemMessage(errno) }
        if close(descriptor) != 0, message == nil { message = systemMessage(errno) }
        if message == nil, rename(temporaryPath, path) != 0 { message = systemMessage(errno) }
        if let message {
            unlink(temporaryPath)
            throw failure(message)
        }
        // Best effort: some file systems refuse fsync on a directory.
        let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let parent = String(path[..<slash])
        return parent.isEmpty ? "/" : parent
    }

    static func systemMessage(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    private static func systemRead(_ descriptor: Int32, _ buffer: UnsafeMutablePointer<UInt8>, _ count: Int) -> Int {
        #if canImport(Glibc)
        return Glibc.read(descriptor, buffer, count)
        #elseif canImport(Musl)
        return Musl.read(descriptor, buffer, count)
        #else
        return Darwin.read(descriptor, buffer, count)
        #endif
    }
}
