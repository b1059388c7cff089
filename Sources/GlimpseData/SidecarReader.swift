import Foundation
import GlimpseImage
import GlimpseSupport

/// A folder, searched recursively, where each image has a text file beside it with
/// the same name and the extension `.txt`, holding one caption per line
/// (`cat.jpg` + `cat.txt`). Images are recognised by their bytes.
enum SidecarReader {
    static func hasSidecar(_ folder: String) -> Bool {
        var found = false
        var ignored: [DirectoryWalk.Problem] = []
        walk(folder, problems: &ignored) { image, sidecar in
            found = true
            return false
        }
        return found
    }

    static func read(folder: String, root: String) throws(DatasetError) -> Dataset {
        var images: [DatasetImage] = []
        var problems: [DatasetProblem] = []
        var unfollowed: [DirectoryWalk.Problem] = []
        walk(folder, problems: &unfollowed) { image, sidecar in
            let text: String
            do throws(DatasetError) { text = try DatasetLoader.readText(sidecar) } catch {
                problems.append(DatasetProblem(.malformedRow, file: sidecar, detail: error.description))
                return true
            }
            // Blank lines between captions are layout, not empty captions; only a file
            // with no caption at all is worth a report.
            let captions = text.split(whereSeparator: \.isNewline).map(String.init)
                .filter { !DatasetLoader.isBlank($0) }.map(DatasetLoader.clean)
            if captions.isEmpty {
                problems.append(DatasetProblem(.emptyCaption, file: sidecar, detail: "no caption in the file"))
                return true
            }
            let relative = String(image.dropFirst(folder.count + 1))
            images.append(DatasetImage(id: relative, path: image, captions: captions, split: .train))
            return true
        }
        problems += unfollowed.map { DatasetProblem(.notFollowed, file: $0.path, detail: $0.reason) }
        return Dataset(format: .sidecar, root: root, captionSource: folder, images: images, problems: problems,
                       hasOwnSplits: false)
    }

    /// Calls `visit(image, sidecar)` for each image with a sidecar, in sorted order,
    /// until it returns false; what the walk could not follow goes to `problems`.
    @discardableResult
    static func walk(_ folder: String, problems: inout [DirectoryWalk.Problem], _ visit: (String, String) -> Bool) -> Bool {
        var walk = DirectoryWalk(root: folder)
        defer { problems += walk.problems }
        while let entry = walk.next() {
            let path = entry.path
            if path.lowercased().hasSuffix(".txt") { continue }
            let stem = (path as NSString).deletingPathExtension
            guard let sidecar = [stem + ".txt", stem + ".TXT"].first(where: FileBytes.isRegularFile),
                  looksLikeImage(path) else { continue }
            if !visit(path, sidecar) { return false }
        }
        return true
    }

    /// Unreadable files are not images here: a sidecar dataset lists only what it can read.
    static func looksLikeImage(_ path: String) -> Bool {
        SniffedFormat.sniff(fileAt: path)?.looksLikeImage ?? false
    }
}
