#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock(2)` on an open file, held until the descriptor is closed: one writer
/// per output file across processes. When another process holds it, `/proc/locks` names
/// that process, so the refusal can say who.
public enum FileLock {
    /// Who holds the lock on a file.
    public struct Holder: Equatable, Sendable, CustomStringConvertible {
        public var pid: Int32
        /// The holder's command line, as `/proc/PID/cmdline` gives it (empty when unreadable).
        public var command: String
        public var description: String { command.isEmpty ? "process \(pid)" : "process \(pid): \(command)" }
    }

    /// Takes the lock without waiting for its holder to finish. When it is held, says who
    /// holds it; a holder that has let go by the time `/proc/locks` is read (it just
    /// finished) is tried again, briefly.
    public static func tryExclusive(_ descriptor: Int32) -> Result<Void, LockFailure> {
        var attempts = 0
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            guard errno == EWOULDBLOCK else { return .failure(.system(FileBytes.systemMessage(errno))) }
            var info = stat()
            let holder = fstat(descriptor, &info) == 0 ? self.holder(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)) : nil
            attempts += 1
            if holder != nil || attempts == 5 { return .failure(.held(by: holder)) }
            usleep(20_000)
        }
        return .success(())
    }

    /// Whether a file's lock is held by another process, and by whom when `/proc/locks` says.
    public enum State: Equatable, Sendable {
        case free
        case held(by: Holder?)
    }

    /// Whether another process holds the lock on the file at `path` (a run's log while it
    /// trains); `.free` also when the file cannot be opened. Probes with a shared lock let go
    /// at once, so it never keeps a writer out.
    public static func state(ofFileAt path: String) -> State {
        let descriptor = FileName.withSystemPath(path) { open($0, O_RDONLY | O_CLOEXEC) }
        guard descriptor >= 0 else { return .free }
        defer { close(descriptor) }
        while flock(descriptor, LOCK_SH | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            guard errno == EWOULDBLOCK else { return .free }
            var info = stat()
            return .held(by: fstat(descriptor, &info) == 0 ? holder(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)) : nil)
        }
        flock(descriptor, LOCK_UN)
        return .free
    }

    public enum LockFailure: Error, Equatable {
        case held(by: Holder?)
        case system(String)
    }

    /// The process holding a `flock` on the file with this device and inode, from `/proc/locks`
    /// (lines like `3: FLOCK  ADVISORY  WRITE 4242 00:2d:1234 0 EOF`, device as hex major:minor).
    static func holder(device: UInt64, inode: UInt64) -> Holder? {
        guard let text = FileBytes.smallProcFile("/proc/locks") else { return nil }
        let major = ((device >> 8) & 0xfff) | ((device >> 32) & ~UInt64(0xfff))
        let minor = (device & 0xff) | ((device >> 12) & ~UInt64(0xff))
        var exact: Int32?
        var sameInode: [Int32] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            // Waiters are listed with "->" after the number; the holder is the plain line.
            guard fields.count >= 6, fields[1] == "FLOCK", let pid = Int32(fields[4]) else { continue }
            let file = fields[5].split(separator: ":")
            guard file.count == 3, UInt64(file[2]) == inode else { continue }
            sameInode.append(pid)
            if UInt64(file[0], radix: 16) == major, UInt64(file[1], radix: 16) == minor { exact = pid }
        }
        // Overlay and btrfs report another device in /proc/locks than stat does: then an
        // inode held by exactly one process names it.
        guard let pid = exact ?? (Set(sameInode).count == 1 ? sameInode.first : nil) else { return nil }
        let command = FileBytes.smallProcFile("/proc/\(pid)/cmdline")
            .map { $0.split(separator: "\0").joined(separator: " ") } ?? ""
        return Holder(pid: pid, command: command)
    }
}

extension FileBytes {
    /// A small file of `/proc` (its size reads as 0, so it is read until the end), as text.
    static func smallProcFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while bytes.count < 4 << 20 {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += buffer[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
