import Foundation
import GlimpseImage

/// Expands command-line paths into the image files to process. Files named
/// explicitly are always taken; folders are walked recursively in sorted order,
/// taking the files whose first bytes look like an image (JPEG, PNG, or another
/// image format worth reporting as unsupported) and skipping hidden entries.
struct ImageFileWalker {
    struct Result {
        var files: [String] = []
        /// Files inside folders that are not images (text, archives, ...).
        var skipped: [String] = []
        /// Paths the walk could not or would not follow (unlistable folders, symbolic-link
        /// loops, dangling links), with the reason.
        var unreadableFolders: [(path: String, reason: String)] = []
    }

    static func expand(_ arguments: [String]) -> Result {
        var result = Result()
        for argument in arguments {
            var status = stat()
            guard FileName.withSystemPath(argument, { stat($0, &status) }) == 0, (status.st_mode & S_IFMT) == S_IFDIR else {
                result.files.append(argument)  // missing files are reported by the decoder
                continue
            }
            walk(argument, into: &result)
        }
        return result
    }

    private static func walk(_ folder: String, into result: inout Result) {
        var walk = DirectoryWalk(root: folder)
        while let entry = walk.next() {
            if looksLikeImage(entry.path) { result.files.append(entry.path) } else { result.skipped.append(entry.path) }
        }
        result.unreadableFolders += walk.problems.map { ($0.path, $0.reason) }
    }

    /// An unreadable file counts as an image, so the decoder reports why it cannot be read.
    static func looksLikeImage(_ path: String) -> Bool {
        SniffedFormat.sniff(fileAt: path)?.looksLikeImage ?? true
    }
}
