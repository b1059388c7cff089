import Foundation
import GlimpseImage

/// A folder, searched recursively, where each image has a text file beside it with
/// the same name and the extension `.txt`, holding one caption per line
/// (`cat.jpg` + `cat.txt`). Images are recognised by their bytes.
enum SidecarReader {
    static func hasSidecar(_ folder: String) -> Bool {
        var found = false
        walk(folder) { image, sidecar in
            found = true
            return false
        }
        return found
    }

    static func read(folder: String, root: String) throws(DatasetError) -> Dataset {
        var images: [DatasetImage] = []
        var problems: [DatasetProblem] = []
        walk(folder) { image, sidecar in
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
        return Dataset(format: .sidecar, root: root, captionSource: folder, images: images, problems: problems,
                       hasOwnSplits: false)
    }

    /// Calls `visit(image, sidecar)` for each image with a sidecar, in sorted order,
    /// until it returns false.
    @discardableResult
    static func walk(_ folder: String, _ visit: (String, String) -> Bool) -> Bool {
        let entries = DatasetLoader.listing(folder)
        let names = Set(entries)
        for entry in entries where !entry.hasPrefix(".") {
            let path = folder + "/" + entry
            if DatasetLoader.folderExists(path) {
                if !walk(path, visit) { return false }
                continue
            }
            if entry.lowercased().hasSuffix(".txt") { continue }
            let stem = (entry as NSString).deletingPathExtension
            guard let sidecarName = [stem + ".txt", stem + ".TXT"].first(where: names.contains),
                  looksLikeImage(path) else { continue }
            if !visit(path, folder + "/" + sidecarName) { return false }
        }
        return true
    }

    /// Unreadable files are not images here: a sidecar dataset lists only what it can read.
    static func looksLikeImage(_ path: String) -> Bool {
        SniffedFormat.sniff(fileAt: path)?.looksLikeImage ?? false
    }
}
