import Foundation

/// What one image shows, as `glimpse synth` knows it: every object's shape, colour,
/// size and position, and the scene's relation. It is made from the same `Scene` the
/// captions are written from, and is what the content scores (`ContentEvaluator`)
/// compare a caption's claims with.
public struct GroundTruth: Sendable, Equatable {
    public struct Object: Sendable, Equatable {
        public var shape: ShapeKind
        public var color: ShapeColor
        public var size: ShapeSize
        /// Where the object is in the picture: a lone object's placement; in a pair the side
        /// its relation puts it on (left/right, top/bottom); in a row left, center, right.
        public var position: Placement
        /// Centre and circumradius in pixels; written by synth, not needed by the scores.
        public var centerX: Double?
        public var centerY: Double?
        public var radius: Double?

        public init(shape: ShapeKind, color: ShapeColor, size: ShapeSize, position: Placement,
                    centerX: Double? = nil, centerY: Double? = nil, radius: Double? = nil) {
            self.shape = shape
            self.color = color
            self.size = size
            self.position = position
            self.centerX = centerX
            self.centerY = centerY
            self.radius = radius
        }
    }

    public enum LayoutKind: String, Sendable, Equatable, CaseIterable {
        case single, pair, row
    }

    /// The image's id in the dataset (for synth, its file name, as in `captions.txt`).
    public var image: String
    /// Pixels; written by synth, not needed by the scores.
    public var width: Int?
    public var height: Int?
    public var layout: LayoutKind?
    /// For a pair: how `objects[0]` stands to `objects[1]`.
    public var relation: Relation?
    /// In caption order: a pair's subject first, a row left to right.
    public var objects: [Object]

    public init(image: String, width: Int? = nil, height: Int? = nil, layout: LayoutKind? = nil,
                relation: Relation? = nil, objects: [Object]) {
        self.image = image
        self.width = width
        self.height = height
        self.layout = layout
        self.relation = relation
        self.objects = objects
    }

    /// The ground truth of a generated scene.
    public init(image: String, scene: Scene) {
        let positions: [Placement]
        switch scene.layout {
        case .single(let placement):
            positions = [placement]
            layout = .single
            relation = nil
        case .pair(let relation):
            switch relation {
            case .leftOf: positions = [.left, .right]
            case .rightOf: positions = [.right, .left]
            case .above: positions = [.top, .bottom]
            case .below: positions = [.bottom, .top]
            }
            layout = .pair
            self.relation = relation
        case .row:
            positions = [.left, .center, .right]
            layout = .row
            relation = nil
        }
        precondition(positions.count == scene.objects.count, "a \(scene.layout) scene with \(scene.objects.count) objects")
        self.image = image
        width = scene.width
        height = scene.height
        objects = zip(scene.objects, positions).map { object, position in
            Object(shape: object.kind, color: object.color, size: object.size, position: position,
                   centerX: object.centerX, centerY: object.centerY, radius: object.radius)
        }
    }
}

/// Why a ground-truth file cannot be used. Each case names the file (and the line).
public enum GroundTruthError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case malformed(path: String, line: Int, reason: String)
    case duplicateImage(path: String, line: Int, image: String, firstLine: Int)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "\(path): cannot read the ground truth: \(reason)"
        case .malformed(let path, let line, let reason):
            return "\(path):\(line): malformed ground truth: \(reason)"
        case .duplicateImage(let path, let line, let image, let firstLine):
            return "\(path):\(line): ground truth for \"\(image)\" again (first on line \(firstLine))"
        }
    }
}

/// `ground_truth.jsonl`, beside a synthetic dataset's `captions.txt`: one JSON object per
/// image, one image per line, in the order of the images (see `Docs/content.md`):
///
/// ```
/// {"height":236,"image":"synth-000001.jpg","layout":"pair","objects":[{"color":"red","position":"left",
///  "radius":52.1,"shape":"square","size":"large","x":96.3,"y":120.8},{...}],"relation":"left_of","width":376}
/// ```
public enum GroundTruthFile {
    public static let fileName = "ground_truth.jsonl"

    /// Spellings in the file (snake case, as the other JSON Glimpse writes).
    static let relationNames: [Relation: String] = [.leftOf: "left_of", .rightOf: "right_of", .above: "above", .below: "below"]

    /// One line, without its newline. Keys sorted; pixel values rounded to 0.01.
    public static func line(_ truth: GroundTruth) -> String {
        func rounded(_ value: Double) -> Double { (value * 100).rounded() / 100 }
        var record: [String: Any] = [
            "image": truth.image,
            "objects": truth.objects.map { object -> [String: Any] in
                var fields: [String: Any] = ["shape": object.shape.rawValue, "color": object.color.name,
                                             "size": object.size.rawValue, "position": object.position.rawValue]
                if let x = object.centerX { fields["x"] = rounded(x) }
                if let y = object.centerY { fields["y"] = rounded(y) }
                if let radius = object.radius { fields["radius"] = rounded(radius) }
                return fields
            },
            "relation": truth.relation.map { relationNames[$0]! as Any } ?? NSNull(),
        ]
        if let layout = truth.layout { record["layout"] = layout.rawValue }
        if let width = truth.width { record["width"] = width }
        if let height = truth.height { record["height"] = height }
        // Strings, numbers and arrays of them always serialise.
        let data = (try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// Reads a ground-truth file: image id → its ground truth.
    public static func read(_ path: String) throws(GroundTruthError) -> [String: GroundTruth] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw .unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
        return try parse(text, path: path)
    }

    /// Parses the text of a ground-truth file; `path` names it in errors. Blank lines are skipped.
    public static func parse(_ text: String, path: String) throws(GroundTruthError) -> [String: GroundTruth] {
        var truths: [String: GroundTruth] = [:]
        var lineOf: [String: Int] = [:]
        for (offset, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = offset + 1
            guard !rawLine.allSatisfy(\.isWhitespace) else { continue }
            let truth = try record(String(rawLine), path: path, line: line)
            if let first = lineOf[truth.image] {
                throw .duplicateImage(path: path, line: line, image: truth.image, firstLine: first)
            }
            lineOf[truth.image] = line
            truths[truth.image] = truth
        }
        return truths
    }

    static func record(_ text: String, path: String, line: Int) throws(GroundTruthError) -> GroundTruth {
        func fail(_ reason: String) -> GroundTruthError { .malformed(path: path, line: line, reason: reason) }
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) else { throw fail("not valid JSON") }
        guard let fields = object as? [String: Any] else { throw fail("expected a JSON object") }
        guard let image = fields["image"] as? String, !image.isEmpty else { throw fail("no \"image\" string") }
        func integer(_ key: String) throws(GroundTruthError) -> Int? {
            guard let value = fields[key], !(value is NSNull) else { return nil }
            guard let number = value as? NSNumber, !(value is String), number.doubleValue == Double(number.intValue),
                  number.intValue > 0 else { throw fail("\"\(key)\" must be a positive whole number") }
            return number.intValue
        }
        let width = try integer("width"), height = try integer("height")
        var layout: GroundTruth.LayoutKind?
        if let value = fields["layout"], !(value is NSNull) {
            guard let name = value as? String, let kind = GroundTruth.LayoutKind(rawValue: name) else {
                throw fail("\"layout\" must be one of \(GroundTruth.LayoutKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            layout = kind
        }
        var relation: Relation?
        if let value = fields["relation"], !(value is NSNull) {
            guard let name = value as? String, let found = relationNames.first(where: { $0.value == name })?.key else {
                throw fail("\"relation\" must be null or one of \(relationNames.values.sorted().joined(separator: ", "))")
            }
            relation = found
        }
        guard let list = fields["objects"] as? [Any], !list.isEmpty else { throw fail("no \"objects\" array with at least one object") }
        var objects: [GroundTruth.Object] = []
        for (index, item) in list.enumerated() {
            guard let item = item as? [String: Any] else { throw fail("objects[\(index)] is not an object") }
            func word<Value>(_ key: String, _ options: [String], _ make: (String) -> Value?) throws(GroundTruthError) -> Value {
                guard let name = item[key] as? String, let value = make(name) else {
                    let found = item[key].map { "\($0)" } ?? "nothing"
                    throw fail("objects[\(index)].\(key) must be one of \(options.joined(separator: ", ")), found \(found)")
                }
                return value
            }
            func coordinate(_ key: String) throws(GroundTruthError) -> Double? {
                guard let value = item[key], !(value is NSNull) else { return nil }
                guard let number = value as? NSNumber, !(value is String), number.doubleValue.isFinite else {
                    throw fail("objects[\(index)].\(key) must be a number")
                }
                return number.doubleValue
            }
            let shape = try word("shape", ShapeKind.allCases.map(\.rawValue)) { ShapeKind(rawValue: $0) }
            let color = try word("color", ShapeColor.all.map(\.name)) { ShapeColor.named($0) }
            let size = try word("size", ShapeSize.allCases.map(\.rawValue)) { ShapeSize(rawValue: $0) }
            let position = try word("position", Placement.allCases.map(\.rawValue)) { Placement(rawValue: $0) }
            objects.append(GroundTruth.Object(shape: shape, color: color, size: size, position: position,
                                              centerX: try coordinate("x"), centerY: try coordinate("y"),
                                              radius: try coordinate("radius")))
        }
        if relation != nil && objects.count < 2 { throw fail("a relation needs at least two objects") }
        let expected: [GroundTruth.LayoutKind: Int] = [.single: 1, .pair: 2, .row: 3]
        if let layout, expected[layout] != objects.count {
            throw fail("a \(layout.rawValue) layout has \(expected[layout]!) object(s), found \(objects.count)")
        }
        return GroundTruth(image: image, width: width, height: height, layout: layout, relation: relation, objects: objects)
    }

    /// Reads the ground truth beside a dataset (see `locate`), or returns nil when it has none.
    public static func load(captionSource: String, root: String) throws(GroundTruthError) -> [String: GroundTruth]? {
        guard let path = locate(captionSource: captionSource, root: root) else { return nil }
        return try read(path)
    }

    /// The ground truth of a dataset, if it has one: `ground_truth.jsonl` in the folder of its
    /// captions file, else in the dataset's root folder.
    public static func locate(captionSource: String, root: String) -> String? {
        var isFolder: ObjCBool = false
        var folders: [String] = []
        if FileManager.default.fileExists(atPath: captionSource, isDirectory: &isFolder) {
            folders.append(isFolder.boolValue ? captionSource : (captionSource as NSString).deletingLastPathComponent)
        }
        if FileManager.default.fileExists(atPath: root, isDirectory: &isFolder), isFolder.boolValue { folders.append(root) }
        for folder in folders {
            let path = (folder.isEmpty ? "." : folder) + "/" + fileName
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        return nil
    }
}

extension ShapeColor {
    /// The palette colour of that name.
    public static func named(_ name: String) -> ShapeColor? { all.first { $0.name == name } }
}
