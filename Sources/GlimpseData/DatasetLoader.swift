import Foundation
import GlimpseImage
import GlimpseSupport

/// Reads the captioned-dataset layouts people have, detecting which one a folder holds.
public struct DatasetLoader: Sendable {
    /// Used when the dataset has no splits of its own.
    public var splitter: DatasetSplitter

    public init(splitter: DatasetSplitter = DatasetSplitter()) {
        self.splitter = splitter
    }

    /// Loads the dataset at `path` (a folder, or the captions file itself).
    /// `format` forces a layout instead of detecting it.
    public func load(_ path: String, format: DatasetFormat? = nil) throws(DatasetError) -> Dataset {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .notFound(path: path)
        }
        let root = Self.trimmingTrailingSlash(path)
        let located = isDirectory.boolValue
            ? try Self.locate(inFolder: root, format: format)
            : try Self.locate(file: root, format: format)
        var dataset: Dataset
        switch located.format {
        case .flickr8kKaggle: dataset = try Flickr8kReader.readKaggle(captionsFile: located.file, root: root)
        case .flickr8k: dataset = try Flickr8kReader.readOriginal(tokenFile: located.file, root: root)
        case .karpathy: dataset = try KarpathyReader.read(file: located.file, root: root)
        case .coco: dataset = try COCOReader.read(files: located.extraFiles.isEmpty ? [located.file] : located.extraFiles,
                                                  root: root, splitter: splitter)
        case .sidecar: dataset = try SidecarReader.read(folder: located.file, root: root)
        }
        if dataset.images.isEmpty { throw .empty(path: path, format: located.format) }
        if !dataset.hasOwnSplits { splitter.assign(&dataset.images) }
        return dataset
    }

    /// Checks that every image file exists; returns the problems (one per missing file).
    public static func missingImages(in dataset: Dataset) -> [DatasetProblem] {
        dataset.images.compactMap { image in
            FileManager.default.isReadableFile(atPath: image.path) ? nil
                : DatasetProblem(.missingImage, file: image.path, detail: "listed in \(dataset.captionSource)")
        }
    }

    // MARK: - Detection

    struct Located {
        var format: DatasetFormat
        var file: String
        var extraFiles: [String] = []
    }

    static func locate(inFolder folder: String, format forced: DatasetFormat?) throws(DatasetError) -> Located {
        let candidates: [DatasetFormat] = forced.map { [$0] } ?? [.flickr8kKaggle, .flickr8k, .karpathy, .coco, .sidecar]
        for format in candidates {
            switch format {
            case .flickr8kKaggle:
                let file = folder + "/captions.txt"
                if let kind = FileBytes.specialFileKind(file) {
                    throw .unreadable(path: file, reason: "not a regular file (\(kind))")
                }
                if let head = firstLine(of: file), head.lowercased().hasPrefix("image,caption") {
                    return Located(format: .flickr8kKaggle, file: file)
                }
            case .flickr8k:
                for place in [folder, folder + "/Flickr8k_text", folder + "/Flickr8k_text/Flickr8k_text"] {
                    let file = place + "/Flickr8k.token.txt"
                    if FileManager.default.fileExists(atPath: file) { return Located(format: .flickr8k, file: file) }
                }
            case .karpathy:
                if let file = listing(folder).first(where: { $0.hasPrefix("dataset_") && $0.hasSuffix(".json") }) {
                    return Located(format: .karpathy, file: folder + "/" + file)
                }
            case .coco:
                for place in [folder, folder + "/annotations"] {
                    let files = listing(place).filter { $0.hasPrefix("captions_") && $0.hasSuffix(".json") }
                    if !files.isEmpty {
                        let paths = files.map { place + "/" + $0 }
                        return Located(format: .coco, file: paths[0], extraFiles: paths)
                    }
                }
            case .sidecar:
                if forced == .sidecar || SidecarReader.hasSidecar(folder) { return Located(format: .sidecar, file: folder) }
            }
        }
        if let forced {
            throw .formatNotFound(path: folder, format: forced, expected: expectation(forced))
        }
        throw .unrecognized(path: folder)
    }

    static func locate(file: String, format forced: DatasetFormat?) throws(DatasetError) -> Located {
        let name = (file as NSString).lastPathComponent
        if let forced { return Located(format: forced, file: file) }
        if name.hasSuffix(".json") {
            if name.hasPrefix("captions_") { return Located(format: .coco, file: file) }
            return Located(format: .karpathy, file: file)
        }
        if name.hasSuffix(".token.txt") { return Located(format: .flickr8k, file: file) }
        if let head = firstLine(of: file), head.lowercased().hasPrefix("image,caption") {
            return Located(format: .flickr8kKaggle, file: file)
        }
        throw .unrecognized(path: file)
    }

    static func expectation(_ format: DatasetFormat) -> String {
        switch format {
        case .flickr8kKaggle: return "captions.txt with the header image,caption, and an Images/ folder"
        case .flickr8k: return "Flickr8k.token.txt (in the folder or in Flickr8k_text/)"
        case .karpathy: return "a dataset_*.json file"
        case .coco: return "a captions_*.json file (in the folder or in annotations/)"
        case .sidecar: return "images with .txt caption files beside them"
        }
    }

    // MARK: - Shared file helpers

    static func trimmingTrailingSlash(_ path: String) -> String {
        var path = path
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        return path
    }

    static func listing(_ folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
    }

    static func firstLine(of file: String) -> String? {
        // Only regular files: opening a FIFO for reading would wait for a writer.
        guard FileBytes.isRegularFile(file), let handle = FileHandle(forReadingAtPath: file) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: 256) else { return nil }
        var text = String(decoding: data, as: UTF8.self)
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        return text.split(whereSeparator: \.isNewline).first.map(String.init)
    }

    /// Caption files are read whole; none of a real dataset comes near this.
    static let maximumCaptionFileBytes = 1 << 34

    /// The file's bytes; only a regular file is read (a FIFO, socket or device is refused
    /// at once, never waited on).
    static func readBytes(_ path: String) throws(DatasetError) -> [UInt8] {
        do {
            return try FileBytes.read(path, limit: maximumCaptionFileBytes)
        } catch {
            throw .unreadable(path: path, reason: error.reasonDescription)
        }
    }

    static func readText(_ path: String) throws(DatasetError) -> String {
        String(decoding: try readBytes(path), as: UTF8.self)
    }

    static func readJSON(_ path: String) throws(DatasetError) -> [String: Any] {
        let data = Data(try readBytes(path))
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw .malformed(path: path, reason: "invalid JSON (\((error as NSError).localizedDescription))")
        }
        guard let dictionary = object as? [String: Any] else {
            throw .malformed(path: path, reason: "the top level is not a JSON object")
        }
        return dictionary
    }

    /// The first folder among `candidates` that holds `probe` (a file name or relative path).
    static func imageFolder(candidates: [String], probe: String?) -> String? {
        let existing = candidates.filter { folderExists($0) }
        if let probe, let match = existing.first(where: { FileManager.default.fileExists(atPath: $0 + "/" + probe) }) {
            return match
        }
        return existing.first
    }

    static func folderExists(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    static func isBlank(_ caption: String) -> Bool {
        caption.allSatisfy { $0.isWhitespace }
    }

    static func clean(_ caption: String) -> String {
        caption.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
