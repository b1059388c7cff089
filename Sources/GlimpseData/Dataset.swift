import Foundation

/// Which part of a dataset an image belongs to.
public enum DatasetSplit: String, Sendable, Equatable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    case train
    case validation = "val"
    case test

    public var description: String { rawValue }

    /// Parses split names as datasets spell them ("restval" is training data).
    public init?(datasetName: String) {
        switch datasetName.lowercased() {
        case "train", "restval", "training": self = .train
        case "val", "dev", "valid", "validation": self = .validation
        case "test", "testing": self = .test
        default: return nil
        }
    }
}

/// The dataset layouts Glimpse reads.
public enum DatasetFormat: String, Sendable, Equatable, CaseIterable, Codable, CustomStringConvertible {
    /// Flickr8k as distributed on Kaggle: `Images/` + `captions.txt` (CSV `image,caption`).
    case flickr8kKaggle = "flickr8k-kaggle"
    /// Flickr8k as originally distributed: `Flickr8k.token.txt` (`name.jpg#N<TAB>caption`)
    /// with optional `Flickr_8k.{train,dev,test}Images.txt` split lists.
    case flickr8k
    /// Karpathy's split JSON (`dataset_flickr8k.json`, `dataset_coco.json`, ...).
    case karpathy
    /// COCO captions JSON (`captions_*.json`) with its image folder.
    case coco
    /// A folder where each image has a sidecar text file, one caption per line.
    case sidecar

    public var description: String { rawValue }
}

/// One image and its reference captions.
public struct DatasetImage: Sendable, Equatable {
    /// A stable identifier: COCO's numeric id when the dataset has one, otherwise the
    /// image's path relative to the dataset root.
    public var id: String
    /// The image file.
    public var path: String
    /// Raw captions, as written in the dataset (empty ones already dropped).
    public var captions: [String]
    public var split: DatasetSplit

    public init(id: String, path: String, captions: [String], split: DatasetSplit) {
        self.id = id
        self.path = path
        self.captions = captions
        self.split = split
    }
}

/// Something wrong with part of a dataset that does not stop the rest from loading.
public struct DatasetProblem: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable {
        case malformedRow = "malformed row"
        case emptyCaption = "empty caption dropped"
        case missingImage = "missing image"
        case notInSplit = "image not in any split list"
        case unknownSplit = "unknown split name"
        /// A folder walk did not follow this path (a symbolic-link loop, a dangling link, a
        /// folder that cannot be listed, a name that is not UTF-8).
        case notFollowed = "path not followed"
    }
    public var kind: Kind
    /// The file the problem is in (or the missing image).
    public var file: String
    /// 1-based line number, when the file is line-oriented.
    public var line: Int?
    public var detail: String

    public init(_ kind: Kind, file: String, line: Int? = nil, detail: String = "") {
        self.kind = kind
        self.file = file
        self.line = line
        self.detail = detail
    }

    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        text += ": \(kind.rawValue)"
        if !detail.isEmpty { text += ": \(detail)" }
        return text
    }
}

/// A captioned dataset, as read from disk.
public struct Dataset: Sendable {
    public var format: DatasetFormat
    /// The folder (or file) the user named.
    public var root: String
    /// The file the captions came from (the folder itself for sidecar datasets).
    public var captionSource: String
    public var images: [DatasetImage]
    /// Rows and images that were skipped, with the reason.
    public var problems: [DatasetProblem]
    /// Whether the splits come from the dataset itself (otherwise they were drawn
    /// deterministically by image; see `DatasetSplitter`).
    public var hasOwnSplits: Bool

    public func images(in split: DatasetSplit) -> [DatasetImage] { images.filter { $0.split == split } }

    public var captionCount: Int { images.reduce(0) { $0 + $1.captions.count } }

    /// The folder the user named, or the one holding the captions file named: what paths
    /// relative to "the dataset" (as `glimpse batch` on that folder writes them) start from.
    public var folder: String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), !isDirectory.boolValue else { return root }
        let parent = (root as NSString).deletingLastPathComponent
        return parent.isEmpty ? "." : parent
    }
}

/// Why a dataset could not be read at all.
public enum DatasetError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The path does not exist.
    case notFound(path: String)
    /// Nothing in the folder looks like a supported layout.
    case unrecognized(path: String)
    /// A file could not be read.
    case unreadable(path: String, reason: String)
    /// A whole file is unusable (invalid JSON, wrong structure, wrong CSV header).
    case malformed(path: String, reason: String)
    /// The layout was found but holds no captioned image.
    case empty(path: String, format: DatasetFormat)
    /// `--format` named a layout whose files are not there.
    case formatNotFound(path: String, format: DatasetFormat, expected: String)

    public var description: String {
        switch self {
        case .notFound(let path):
            return "\(path): no such file or folder"
        case .unrecognized(let path):
            return "\(path): no captioned dataset found (looked for a Flickr8k captions.txt or Flickr8k.token.txt, "
                + "a Karpathy dataset_*.json, a COCO captions_*.json, or images with sidecar .txt captions)"
        case .unreadable(let path, let reason):
            return "\(path): cannot read: \(reason)"
        case .malformed(let path, let reason):
            return "\(path): malformed dataset file: \(reason)"
        case .empty(let path, let format):
            return "\(path): the \(format) dataset holds no captioned image"
        case .formatNotFound(let path, let format, let expected):
            return "\(path): not a \(format) dataset: expected \(expected)"
        }
    }
}
