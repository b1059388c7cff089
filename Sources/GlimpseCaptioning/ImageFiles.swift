import GlimpseSupport
import GlimpseImage
#if canImport(Glibc)
import Glibc
#endif

/// The image files to caption, found lazily in order: the one way Glimpse turns command-line
/// paths or a folder into files.
///
/// A file named explicitly is always taken (the decoder reports what is wrong with it); a
/// folder is walked with `DirectoryWalk` (sorted by bytes, hidden entries skipped, each folder
/// entered once, loops and dangling links reported in `problems`), taking the files whose first
/// bytes look like an image and counting the others in `skippedNonImages`. Only one folder's
/// listing per level of depth is held, never the whole tree.
public struct ImageFiles: IteratorProtocol, Sendable {
    /// A file to caption: its path, and its path relative to the folder it was found in (the
    /// path as given, for a file named explicitly).
    public struct File: Equatable, Sendable {
        public var path: String
        public var relative: String
    }

    private var pending: [String]
    private var walk: DirectoryWalk?
    private var finishedProblems: [DirectoryWalk.Problem] = []
    /// When false, every file is taken without reading its first bytes (for counting quickly).
    public let sniffs: Bool
    /// Files inside folders whose bytes are not an image (text, archives, ...).
    public private(set) var skippedNonImages = 0

    /// Files and folders as given on a command line, in that order.
    public init(_ arguments: [String], sniffs: Bool = true) {
        pending = arguments.reversed()
        self.sniffs = sniffs
    }

    /// The files under one folder, relative to it.
    public init(folder: String, sniffs: Bool = true) {
        pending = []
        walk = DirectoryWalk(root: folder)
        self.sniffs = sniffs
    }

    /// Paths the walks could not or would not follow (unlistable folders, loops, dangling
    /// links), with the reason.
    public var problems: [DirectoryWalk.Problem] { finishedProblems + (walk?.problems ?? []) }

    public mutating func next() -> File? {
        while true {
            if walk != nil {
                while let entry = walk!.next() {
                    if !sniffs || Self.looksLikeImage(entry.path) { return File(path: entry.path, relative: entry.relative) }
                    skippedNonImages += 1
                }
                finishedProblems += walk!.problems
                walk = nil
            }
            guard let argument = pending.popLast() else { return nil }
            var status = stat()
            if FileName.withSystemPath(argument, { stat($0, &status) }) == 0, (status.st_mode & S_IFMT) == S_IFDIR {
                walk = DirectoryWalk(root: argument)
                continue
            }
            return File(path: argument, relative: argument)
        }
    }

    /// Every file at once, with what the walks reported: for commands that need the count first.
    public static func all(_ arguments: [String]) -> (files: [File], problems: [DirectoryWalk.Problem], skippedNonImages: Int) {
        var iterator = ImageFiles(arguments)
        var files: [File] = []
        while let file = iterator.next() { files.append(file) }
        return (files, iterator.problems, iterator.skippedNonImages)
    }

    /// An unreadable file counts as an image, so the decoder reports why it cannot be read.
    public static func looksLikeImage(_ path: String) -> Bool {
        SniffedFormat.sniff(fileAt: path)?.looksLikeImage ?? true
    }
}
