import GlimpseSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The files under a folder, found lazily, depth first in sorted order (byte order of the
/// names), hidden entries (names starting with ".") skipped. One folder's listing is held
/// per level of depth, never the whole tree.
///
/// Symbolic links are followed, but a folder is entered once only: folders are known by
/// device and inode, so a link back to an ancestor (a loop) or a second link to a folder
/// already walked is reported in `problems` and not entered again. Dangling links and folders
/// that cannot be listed are reported there too; nothing is skipped silently. Names that are
/// not valid UTF-8 are returned like any other, held as `FileName` describes. Whatever is not a folder is returned (regular files, and FIFOs,
/// sockets or devices, which the readers then refuse with their kind).
public struct DirectoryWalk: IteratorProtocol, Sendable {
    /// A file found: its path (the root joined with `relative`) and its path relative to the root.
    public struct Entry: Equatable, Sendable {
        public var path: String
        public var relative: String
    }

    /// A path the walk could not or would not follow, and why.
    public struct Problem: Equatable, Sendable, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// The folder walked, without a trailing "/".
    public let root: String
    public private(set) var problems: [Problem] = []
    private var stack: [(folder: String, relative: String, entries: [String], next: Int)] = []
    private var visited: Set<FolderIdentity> = []

    private struct FolderIdentity: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64
    }

    public init(root: String) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        var status = stat()
        guard FileName.withSystemPath(self.root, { stat($0, &status) }) == 0 else {
            problems.append(Problem(path: self.root, reason: FileBytes.systemMessage(errno)))
            return
        }
        enter(self.root, relative: "", status: status)
    }

    public mutating func next() -> Entry? {
        while let top = stack.last {
            guard top.next < top.entries.count else {
                stack.removeLast()
                continue
            }
            stack[stack.count - 1].next += 1
            let name = top.entries[top.next]
            let path = top.folder + "/" + name
            let relative = top.relative.isEmpty ? name : top.relative + "/" + name
            var status = stat()
            guard FileName.withSystemPath(path, { stat($0, &status) }) == 0 else {
                let error = errno
                var link = stat()
                if FileName.withSystemPath(path, { lstat($0, &link) }) == 0 && (link.st_mode & S_IFMT) == S_IFLNK {
                    problems.append(Problem(path: path, reason: error == ELOOP
                        ? "symbolic links loop back on themselves" : "dangling symbolic link (\(FileBytes.systemMessage(error)))"))
                } else {
                    problems.append(Problem(path: path, reason: FileBytes.systemMessage(error)))
                }
                continue
            }
            if (status.st_mode & S_IFMT) == S_IFDIR {
                enter(path, relative: relative, status: status)
                continue
            }
            return Entry(path: path, relative: relative)
        }
        return nil
    }

    /// Lists `folder` and puts it on the stack, unless it was entered before.
    private mutating func enter(_ folder: String, relative: String, status: stat) {
        let identity = FolderIdentity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
        guard visited.insert(identity).inserted else {
            problems.append(Problem(path: folder, reason: "a folder already walked (a symbolic link loops back, or links to it twice); not entered again"))
            return
        }
        guard let directory = FileName.withSystemPath(folder, { opendir($0) }) else {
            problems.append(Problem(path: folder, reason: "cannot list folder: " + FileBytes.systemMessage(errno)))
            return
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { FileName.string(fromBytes: $0.prefix { $0 != 0 }) }
            if name.hasPrefix(".") { continue } // ".", ".." and hidden entries
            names.append(name)
        }
        // By bytes: Swift's `<` ranks canonically equivalent names equal, in no fixed order.
        names = names.map { (FileName.bytes($0), $0) }.sorted { $0.0.lexicographicallyPrecedes($1.0) }.map(\.1)
        stack.append((folder, relative, names, 0))
    }
}
