/// What a caption says about its picture: the objects it names, with whatever it says of
/// each, and the relations it states between them.
public struct CaptionClaims: Sendable, Equatable {
    public struct Object: Sendable, Equatable {
        public var shape: ShapeKind
        public var color: ShapeColor?
        public var size: ShapeSize?
        /// An absolute place ("on the left", "in the middle"), not a relation.
        public var position: Placement?

        public init(shape: ShapeKind, color: ShapeColor? = nil, size: ShapeSize? = nil, position: Placement? = nil) {
            self.shape = shape
            self.color = color
            self.size = size
            self.position = position
        }
    }

    /// "`subject` is `kind` `object`", indices into `objects`.
    public struct Relation: Sendable, Equatable {
        public enum Kind: String, Sendable, Equatable {
            case leftOf, rightOf, above, below
            /// "next to": side by side, either way round.
            case nextTo
        }
        public var subject: Int
        public var kind: Kind
        public var object: Int

        public init(subject: Int, kind: Kind, object: Int) {
            self.subject = subject
            self.kind = kind
            self.object = object
        }
    }

    /// In the caption's order.
    public var objects: [Object]
    public var relations: [Relation]

    public init(objects: [Object], relations: [Relation] = []) {
        self.objects = objects
        self.relations = relations
    }
}

/// A caption outside the grammar `glimpse synth` writes.
public struct CaptionParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public var caption: String
    public var reason: String

    public init(caption: String, reason: String) {
        self.caption = caption
        self.reason = reason
    }

    public var description: String { "cannot parse \"\(caption)\": \(reason)" }
}

/// Reads captions written in the grammar of `SceneGenerator.captions(for:)` back into
/// claims, for the content scores. The grammar, over lower-cased words (runs of letters
/// and digits, as Glimpse's tokenizer makes them, so case and punctuation never matter):
///
/// ```
/// caption   := opener? item (and? item)*
/// opener    := "there is" | "a picture of" | COUNT "shapes" | "a row of" COUNT "shapes"
/// item      := object place? | RELATION object
/// object    := ("a" | "an") "single"? SIZE? COLOUR? SHAPE      (size and colour in either order)
/// place     := "on the left" | "on the right" | "at the top" | "at the bottom" | "in the middle",
///              then optionally "of the picture"
/// RELATION  := "to the left of" | "to the right of" | "above" | "below" | "next to"
/// SIZE      := small | little | large | big;  COUNT := two | three
/// ```
///
/// A relation holds between the object before it and every object after it up to the
/// next relation ("A to the left of B and C": A left of B, A left of C). A count ("two
/// shapes", "a single") must agree with the objects named. Anything else (an unknown
/// word, an article without a shape, a dangling "and") makes the caption unparseable.
///
/// The words come from the same tables the caption writer uses (`ShapeKind`,
/// `ShapeColor.all`, `ShapeSize`, `Placement.phrase`, `Relation.phrase`); the fixed
/// phrases are pinned by the calibration tests, which parse every template.
public enum CaptionParser {
    public static func parse(_ caption: String) throws(CaptionParseError) -> CaptionClaims {
        var reader = Reader(words: words(caption))
        func fail(_ reason: String) -> CaptionParseError { CaptionParseError(caption: caption, reason: reason) }

        var declaredCount: Int?
        if reader.take(["there", "is"]) || reader.take(["a", "picture", "of"]) {
        } else if reader.take(["a", "row", "of"]) {
            guard let count = reader.takeCount(), reader.take(["shapes"]) else { throw fail("\"a row of\" without \"two/three shapes\"") }
            declaredCount = count
        } else if let count = reader.takeCount() {
            guard reader.take(["shapes"]) else { throw fail("a number without \"shapes\"") }
            declaredCount = count
        }

        var objects: [CaptionClaims.Object] = []
        var relations: [CaptionClaims.Relation] = []
        /// The relation in force: the objects named after it are its objects.
        var pending: (subject: Int, kind: CaptionClaims.Relation.Kind)?
        /// What the previous word group was, to reject "and and", a trailing "and", "a red".
        var afterJoiner = true
        var sawSingle = false
        while !reader.atEnd {
            if reader.take(["and"]) {
                guard !afterJoiner else { throw fail("\"and\" where an object should be") }
                afterJoiner = true
                continue
            }
            if let kind = reader.takeRelation() {
                guard !objects.isEmpty, !afterJoiner else { throw fail("a relation with no object before it") }
                pending = (objects.count - 1, kind)
                afterJoiner = true
                continue
            }
            if let place = reader.takePlace() {
                guard let last = objects.indices.last, !afterJoiner else { throw fail("a place with no object before it") }
                guard objects[last].position == nil else { throw fail("two places for one object") }
                objects[last].position = place
                continue
            }
            guard reader.take(["a"]) || reader.take(["an"]) else {
                throw fail("unexpected word \"\(reader.peek ?? "")\" (word \(reader.index + 1))")
            }
            if reader.take(["single"]) { sawSingle = true }
            var size: ShapeSize?, color: ShapeColor?
            while true {
                if size == nil, let found = reader.takeSize() { size = found; continue }
                if color == nil, let found = reader.takeColor() { color = found; continue }
                break
            }
            guard let shape = reader.takeShape() else {
                throw fail("an article without a shape" + (reader.peek.map { " (found \"\($0)\")" } ?? " (the caption ends)"))
            }
            objects.append(CaptionClaims.Object(shape: shape, color: color, size: size))
            if let pending { relations.append(CaptionClaims.Relation(subject: pending.subject, kind: pending.kind, object: objects.count - 1)) }
            afterJoiner = false
        }
        if objects.isEmpty { throw fail("no object named") }
        if afterJoiner { throw fail("the caption ends after \"and\" or a relation") }
        if sawSingle { declaredCount = declaredCount ?? 1 }
        if let declaredCount, declaredCount != objects.count {
            throw fail("says \(declaredCount) shape(s) but names \(objects.count)")
        }
        return CaptionClaims(objects: objects, relations: relations)
    }

    /// Lower-cased runs of letters and digits: Glimpse's tokenizer (`CaptionTokenizer`).
    static func words(_ caption: String) -> [String] {
        var words: [String] = [], current = ""
        for character in caption.lowercased() {
            if character.isLetter || character.isNumber {
                current.append(character)
            } else if !current.isEmpty {
                words.append(current)
                current = ""
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    // MARK: The vocabulary, from the caption writer's own tables

    static func phrase(_ text: String) -> [String] { words(text) }

    static let relationPhrases: [([String], CaptionClaims.Relation.Kind)] = [
        (phrase(Relation.leftOf.phrase), .leftOf), (phrase(Relation.rightOf.phrase), .rightOf),
        (phrase(Relation.above.phrase), .above), (phrase(Relation.below.phrase), .below), (["next", "to"], .nextTo),
    ]
    static let placePhrases: [([String], Placement)] = Placement.allCases.map { (phrase($0.phrase), $0) }
    static let sizeWords: [String: ShapeSize] = Dictionary(uniqueKeysWithValues: ShapeSize.allCases.flatMap {
        [($0.words.plain, $0), ($0.words.casual, $0)]
    })
    static let colorWords: [String: ShapeColor] = Dictionary(uniqueKeysWithValues: ShapeColor.all.map { ($0.name, $0) })
    static let shapeWords: [String: ShapeKind] = Dictionary(uniqueKeysWithValues: ShapeKind.allCases.map { ($0.rawValue, $0) })
    static let countWords = ["two": 2, "three": 3]

    struct Reader {
        let words: [String]
        var index = 0

        var atEnd: Bool { index >= words.count }
        var peek: String? { atEnd ? nil : words[index] }

        mutating func take(_ phrase: [String]) -> Bool {
            guard index + phrase.count <= words.count, Array(words[index..<(index + phrase.count)]) == phrase else { return false }
            index += phrase.count
            return true
        }

        mutating func takeWord<Value>(_ table: [String: Value]) -> Value? {
            guard let word = peek, let value = table[word] else { return nil }
            index += 1
            return value
        }

        mutating func takeCount() -> Int? { takeWord(CaptionParser.countWords) }
        mutating func takeSize() -> ShapeSize? { takeWord(CaptionParser.sizeWords) }
        mutating func takeColor() -> ShapeColor? { takeWord(CaptionParser.colorWords) }
        mutating func takeShape() -> ShapeKind? { takeWord(CaptionParser.shapeWords) }

        mutating func takeRelation() -> CaptionClaims.Relation.Kind? {
            for (phrase, kind) in CaptionParser.relationPhrases where take(phrase) { return kind }
            return nil
        }

        mutating func takePlace() -> Placement? {
            for (phrase, place) in CaptionParser.placePhrases where take(phrase) {
                _ = take(["of", "the", "picture"])
                return place
            }
            return nil
        }
    }
}
