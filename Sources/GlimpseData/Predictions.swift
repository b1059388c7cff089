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

    /// What `read` accepts and where such a file comes from, for its error messages.
    public static let formatHelp = """
        glimpse score reads the COCO results format, one JSON array of {"image_id", "caption"} objects \
        (or JSON Lines of those objects, one per line), as `glimpse batch FOLDER --format coco --output FILE` \
        and `glimpse evaluate DATA_DIR --output FILE` write it
        """

    /// Reads a COCO results file: a JSON array of `{"image_id", "caption"}` objects. JSON Lines
    /// of the same objects, one per line, are read too: each line is one entry, exactly as in
    /// the array, so nothing is guessed. Other JSON Lines (such as `glimpse batch`'s records,
    /// whose `path` is relative to the folder captioned, not a dataset's image id) and other
    /// JSON are refused with `formatHelp`.
    public static func read(_ path: String) throws(PredictionsError) -> Predictions {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw PredictionsError(path: path, reason: "cannot read: \((error as NSError).localizedDescription)")
        }
        if data.allSatisfy({ [0x20, 0x09, 0x0A, 0x0D].contains($0) }) {
            throw PredictionsError(path: path, reason: "the file is empty; \(formatHelp)")
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            if let lines = jsonLines(data) { return try entries(ofLines: lines, path: path) }
            throw PredictionsError(path: path, reason: "invalid JSON (\((error as NSError).localizedDescription)); \(formatHelp)")
        }
        guard let list = object as? [Any] else {
            if let single = object as? [String: Any], single["caption"] != nil || single["path"] != nil {
                // One JSON Lines record alone is a valid JSON document too.
                return try entries(ofLines: [(1, single)], path: path)
            }
            throw PredictionsError(path: path, reason: "found \(describe(object)), not an array; \(formatHelp)")
        }
        var entries: [Entry] = []
        for (index, item) in list.enumerated() {
            entries.append(try entry(item, at: "entry \(index)", path: path))
        }
        return Predictions(entries: entries)
    }

    /// The file's non-blank lines as JSON objects with their line numbers, when there are
    /// several and each is one object (JSON Lines); nil otherwise.
    private static func jsonLines(_ data: Data) -> [(line: Int, object: [String: Any])]? {
        var objects: [(Int, [String: Any])] = []
        for (index, line) in data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            guard line.contains(where: { ![0x20, 0x09, 0x0D].contains($0) }) else { continue }
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else { return nil }
            objects.append((index + 1, object))
        }
        return objects.count > 1 ? objects : nil
    }

    /// The entries of JSON Lines: every line must be a `{"image_id", "caption"}` object.
    private static func entries(ofLines lines: [(line: Int, object: [String: Any])],
                                path: String) throws(PredictionsError) -> Predictions {
        if let first = lines.first, first.object["image_id"] == nil {
            var reason = "JSON Lines whose records have no \"image_id\" (line \(first.line) has "
                + (first.object.isEmpty ? "no keys" : "keys " + first.object.keys.sorted().map { "\"\($0)\"" }.joined(separator: ", ")) + ")"
            if first.object["path"] != nil {
                reason += ", as `glimpse batch --format jsonl` writes them; a batch record's path is relative to the folder "
                    + "captioned, not a dataset's image id"
            }
            throw PredictionsError(path: path, reason: reason + "; \(formatHelp)")
        }
        var entries: [Entry] = []
        for (line, object) in lines { entries.append(try entry(object, at: "line \(line)", path: path)) }
        return Predictions(entries: entries)
    }

    /// One `{"image_id", "caption"}` object; `place` names it in errors ("entry 3", "line 4").
    private static func entry(_ item: Any, at place: String, path: String) throws(PredictionsError) -> Entry {
        guard let item = item as? [String: Any] else {
            throw PredictionsError(path: path, reason: "\(place) is \(describe(item)), not an object; \(formatHelp)")
        }
        guard let caption = item["caption"] as? String else {
            throw PredictionsError(path: path, reason: "\(place) has no \"caption\" string")
        }
        if let number = item["image_id"] as? NSNumber, !(item["image_id"] is String) {
            // A whole number only: 3.5 is no image id.
            guard number.doubleValue == Double(number.int64Value) else {
                throw PredictionsError(path: path, reason: "\(place) has a fractional \"image_id\"")
            }
            return Entry(imageID: String(number.int64Value), imageIDIsNumber: true, caption: caption)
        } else if let text = item["image_id"] as? String {
            return Entry(imageID: text, caption: caption)
        }
        throw PredictionsError(path: path, reason: "\(place) has no \"image_id\" (a number or a string)")
    }

    /// What a JSON value is, in words, for errors.
    private static func describe(_ value: Any) -> String {
        switch value {
        case let object as [String: Any]:
            let keys = object.keys.sorted().prefix(6).map { "\"\($0)\"" }.joined(separator: ", ")
            return object.isEmpty ? "an empty JSON object" : "a JSON object with keys \(keys)\(object.count > 6 ? ", ..." : "")"
        case is [Any]: return "an array"
        case is String: return "a string"
        case is NSNull: return "null"
        default: return "a number or boolean"
        }
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

