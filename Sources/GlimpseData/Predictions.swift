import Foundation
import GlimpseSupport

/// Captions produced for a dataset's images, in the COCO results format that
/// external scorers read: `[{"image_id": ..., "caption": "..."}]`. `image_id` is
/// COCO's number when the dataset has one, otherwise the image's id in Glimpse (its
/// path relative to the dataset, e.g. the file name for Flickr8k).
public struct Predictions: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        /// As written in the file: a number or a string.
        public var imageID: String
        public var imageIDIsNumber: Bool
        public var caption: String

        public init(imageID: String, imageIDIsNumber: Bool = false, caption: String) {
            self.imageID = imageID
            self.imageIDIsNumber = imageIDIsNumber
            self.caption = caption
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) { self.entries = entries }

    /// Reads a COCO results file.
    public static func read(_ path: String) throws(PredictionsError) -> Predictions {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw PredictionsError(path: path, reason: "cannot read: \((error as NSError).localizedDescription)")
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw PredictionsError(path: path, reason: "invalid JSON (\((error as NSError).localizedDescription))")
        }
        guard let list = object as? [Any] else {
            throw PredictionsError(path: path, reason: "expected a JSON array of {\"image_id\", \"caption\"} objects")
        }
        var entries: [Entry] = []
        for (index, item) in list.enumerated() {
            guard let item = item as? [String: Any] else {
                throw PredictionsError(path: path, reason: "entry \(index) is not an object")
            }
            guard let caption = item["caption"] as? String else {
                throw PredictionsError(path: path, reason: "entry \(index) has no \"caption\" string")
            }
            if let number = item["image_id"] as? NSNumber, !(item["image_id"] is String) {
                // A whole number only: 3.5 is no image id.
                guard number.doubleValue == Double(number.int64Value) else {
                    throw PredictionsError(path: path, reason: "entry \(index) has a fractional \"image_id\"")
                }
                entries.append(Entry(imageID: String(number.int64Value), imageIDIsNumber: true, caption: caption))
            } else if let text = item["image_id"] as? String {
                entries.append(Entry(imageID: text, caption: caption))
            } else {
                throw PredictionsError(path: path, reason: "entry \(index) has no \"image_id\" (a number or a string)")
            }
        }
        return Predictions(entries: entries)
    }

    /// The file's bytes: one object per line inside the array, keys in a fixed order.
    public func encoded() -> [UInt8] {
        var text = "[\n"
        for (index, entry) in entries.enumerated() {
            let id = entry.imageIDIsNumber ? entry.imageID : JSONLiteral.string(entry.imageID)
            text += "{\"image_id\": \(id), \"caption\": \(JSONLiteral.string(entry.caption))}"
            text += index + 1 < entries.count ? ",\n" : "\n"
        }
        text += "]\n"
        return Array(text.utf8)
    }

    /// How the predictions line up with a set of images.
    public struct Matching: Sendable, Equatable {
        /// Image id → the predicted caption, for images that have one.
        public var captions: [String: String]
        /// Images of the set with no prediction.
        public var missing: [String]
        /// Predictions naming images not in the set.
        public var unknown: [String]
        /// Images predicted more than once (the first caption is used).
        public var duplicates: [String]
        /// Predictions naming an image by a file name that several images of the set share.
        public var ambiguous: [String] = []
    }

    /// Matches predictions to `images` by id. Two other spellings of an image match too,
    /// wherever they name exactly one image of the set and are no image's id: its file
    /// name, and, given the dataset's `folder`, its path relative to that folder (the ids
    /// `glimpse batch` writes for that folder, such as `Images/x.jpg` for a Flickr8k one).
    public func match(_ images: [DatasetImage], folder: String? = nil) -> Matching {
        var byID: [String: String] = [:]
        for image in images { byID[image.id] = image.id }
        var byAlias: [String: Set<String>] = [:]
        let root = folder.map(Self.components)
        for image in images {
            byAlias[(image.path as NSString).lastPathComponent, default: []].insert(image.id)
            let parts = Self.components(image.path)
            if let root, parts.count > root.count, parts.starts(with: root) {
                byAlias[parts[root.count...].joined(separator: "/"), default: []].insert(image.id)
            }
        }
        var captions: [String: String] = [:]
        var unknown: [String] = [], duplicates: [String] = [], ambiguous: [String] = []
        for entry in entries {
            let id: String
            if let exact = byID[entry.imageID] {
                id = exact
            } else if let named = byAlias[Self.components(entry.imageID).joined(separator: "/")] {
                guard named.count == 1, let only = named.first else {
                    ambiguous.append(entry.imageID)
                    continue
                }
                id = only
            } else {
                unknown.append(entry.imageID)
                continue
            }
            if captions[id] != nil {
                duplicates.append(id)
                continue
            }
            captions[id] = entry.caption
        }
        let missing = images.map(\.id).filter { captions[$0] == nil }
        return Matching(captions: captions, missing: missing, unknown: unknown, duplicates: duplicates, ambiguous: ambiguous)
    }

    /// A path's components without empty and "." ones, so that `./Images//x.jpg` and
    /// `Images/x.jpg` are one path. ".." is kept as written: no link is resolved.
    static func components(_ path: String) -> [String] {
        path.split(separator: "/").filter { $0 != "." }.map(String.init)
    }
}

public struct PredictionsError: Error, Equatable, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

