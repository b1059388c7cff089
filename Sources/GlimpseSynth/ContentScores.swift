/// Whether captions name what is in the picture: each caption is parsed with
/// `CaptionParser`, its objects are paired with the ground truth's, and every stated
/// shape, colour, size, position and relation is checked. `Docs/content.md` defines
/// each score; in short:
///
/// - **precision** of an attribute: of the values the captions state, the share that are right;
/// - **recall**: of the ground-truth objects, the share whose value the captions state rightly.
///   Shape and colour are expected of every object (every synth caption gives them); size and
///   position are optional in the grammar, so their recall counts only the captions that
///   state that attribute for at least one object, and there expects it for every object;
/// - **object count**: the caption names as many objects as the picture holds;
/// - **exact match**: the caption names exactly the picture's objects, each with its right
///   shape and colour, and everything else it says (sizes, positions, relations) is right.
///
/// A caption that cannot be parsed claims nothing: it costs recall, object count and exact
/// match (never precision), and is counted in `unparsed`.
public enum ContentEvaluator {
    /// Judges one caption against its image's ground truth.
    public static func judge(_ caption: String, against truth: GroundTruth) -> CaptionContent {
        let objectCount = truth.objects.count
        var judged = CaptionContent()
        judged.shape.expected = objectCount
        judged.color.expected = objectCount
        let claims: CaptionClaims
        do {
            claims = try CaptionParser.parse(caption)
        } catch {
            judged.parseError = error
            return judged
        }
        judged.claims = claims
        let pairs = match(claims.objects, truth.objects)
        judged.pairs = pairs
        let claimed = claims.objects
        judged.shape.stated = claimed.count
        judged.color.stated = claimed.filter { $0.color != nil }.count
        judged.size.stated = claimed.filter { $0.size != nil }.count
        judged.position.stated = claimed.filter { $0.position != nil }.count
        if judged.size.stated > 0 { judged.size.expected = objectCount }
        if judged.position.stated > 0 { judged.position.expected = objectCount }
        for (claimIndex, truthIndex) in pairs {
            let (claim, object) = (claimed[claimIndex], truth.objects[truthIndex])
            if claim.shape == object.shape { judged.shape.correct += 1 }
            if claim.color == object.color { judged.color.correct += 1 }
            if claim.size == object.size { judged.size.correct += 1 }
            if claim.position == object.position { judged.position.correct += 1 }
        }
        let truthOf = Dictionary(uniqueKeysWithValues: pairs.map { ($0.claim, $0.truth) })
        judged.relations.stated = claims.relations.count
        for relation in claims.relations {
            guard let subject = truthOf[relation.subject], let object = truthOf[relation.object] else { continue }
            if holds(relation.kind, truth.objects[subject].position, truth.objects[object].position) {
                judged.relations.correct += 1
            }
        }
        judged.countRight = claimed.count == objectCount
        judged.exact = judged.countRight
            && judged.shape.correct == objectCount && judged.color.correct == objectCount
            && judged.size.correct == judged.size.stated && judged.position.correct == judged.position.stated
            && judged.relations.correct == judged.relations.stated
        return judged
    }

    /// Scores every caption whose image has ground truth (`captions` keys are image ids);
    /// images without ground truth are left out (the caller reports them).
    public static func evaluate(captions: [String: String], groundTruth: [String: GroundTruth]) -> ContentScores {
        var scores = ContentScores()
        for (id, caption) in captions {
            guard let truth = groundTruth[id] else { continue }
            let judged = judge(caption, against: truth)
            scores.perImage[id] = judged
            scores.add(judged)
        }
        return scores
    }

    /// Whether "A `kind` B" is true of objects at `subject` and `object`. Left, center and right
    /// are a horizontal arrangement in that order, top, center and bottom a vertical one.
    static func holds(_ kind: CaptionClaims.Relation.Kind, _ subject: Placement, _ object: Placement) -> Bool {
        let horizontal: [Placement: Int] = [.left: 0, .center: 1, .right: 2]
        let vertical: [Placement: Int] = [.top: 0, .center: 1, .bottom: 2]
        switch kind {
        case .leftOf: return horizontal[subject].flatMap { a in horizontal[object].map { a < $0 } } ?? false
        case .rightOf: return horizontal[subject].flatMap { a in horizontal[object].map { a > $0 } } ?? false
        case .above: return vertical[subject].flatMap { a in vertical[object].map { a < $0 } } ?? false
        case .below: return vertical[subject].flatMap { a in vertical[object].map { a > $0 } } ?? false
        case .nextTo: return horizontal[subject].flatMap { a in horizontal[object].map { a != $0 } } ?? false
        }
    }

    /// Pairs claimed objects with ground-truth objects one to one, as many as the smaller side
    /// has, maximising the number of stated attributes that agree (shape, colour, size,
    /// position, one each); ties go to the first pairing in caption and ground-truth order.
    /// Exact over subsets of the smaller side (at most 12 objects; beyond, greedily).
    static func match(_ claims: [CaptionClaims.Object], _ truth: [GroundTruth.Object]) -> [(claim: Int, truth: Int)] {
        func agreement(_ claim: CaptionClaims.Object, _ object: GroundTruth.Object) -> Int {
            // 1 + agreements: every pairing beats leaving both unpaired, so the matching is as large as it can be.
            1 + (claim.shape == object.shape ? 1 : 0) + (claim.color == object.color ? 1 : 0)
                + (claim.size == object.size ? 1 : 0) + (claim.position == object.position ? 1 : 0)
        }
        let claimsAreRows = claims.count >= truth.count
        let rows = claimsAreRows ? claims.count : truth.count, columns = claimsAreRows ? truth.count : claims.count
        func weight(_ row: Int, _ column: Int) -> Int {
            claimsAreRows ? agreement(claims[row], truth[column]) : agreement(claims[column], truth[row])
        }
        func pair(_ row: Int, _ column: Int) -> (claim: Int, truth: Int) { claimsAreRows ? (row, column) : (column, row) }
        guard columns > 0 else { return [] }
        guard columns <= 12 else {
            var used = Set<Int>(), pairs: [(claim: Int, truth: Int)] = []
            for row in 0..<rows {
                guard let best = (0..<columns).filter({ !used.contains($0) }).max(by: { weight(row, $0) < weight(row, $1) })
                else { break }
                used.insert(best)
                pairs.append(pair(row, best))
            }
            return pairs
        }
        // best[r][mask]: the largest total weight of rows r... given the columns in `mask` are taken.
        let masks = 1 << columns
        var best = [[Int]](repeating: [Int](repeating: 0, count: masks), count: rows + 1)
        for row in stride(from: rows - 1, through: 0, by: -1) {
            for mask in 0..<masks {
                var value = best[row + 1][mask]
                for column in 0..<columns where mask & (1 << column) == 0 {
                    value = max(value, weight(row, column) + best[row + 1][mask | (1 << column)])
                }
                best[row][mask] = value
            }
        }
        var pairs: [(claim: Int, truth: Int)] = [], mask = 0
        for row in 0..<rows {
            // The first choice (a column in order, then leaving the row unpaired) that keeps the optimum.
            if let column = (0..<columns).first(where: { mask & (1 << $0) == 0
                && weight(row, $0) + best[row + 1][mask | (1 << $0)] == best[row][mask] }) {
                pairs.append(pair(row, column))
                mask |= 1 << column
            }
        }
        return pairs.sorted { $0.claim < $1.claim }
    }
}

/// Counts for one attribute.
public struct AttributeTally: Sendable, Equatable {
    /// Claimed objects that state this attribute.
    public var stated = 0
    /// Of those, paired with a ground-truth object whose value is the same.
    public var correct = 0
    /// Ground-truth objects this attribute's recall expects a right value for.
    public var expected = 0

    public init(stated: Int = 0, correct: Int = 0, expected: Int = 0) {
        self.stated = stated
        self.correct = correct
        self.expected = expected
    }

    /// `correct / stated`, or nil when nothing was stated.
    public var precision: Double? { stated > 0 ? Double(correct) / Double(stated) : nil }
    /// `correct / expected`, or nil when nothing was expected.
    public var recall: Double? { expected > 0 ? Double(correct) / Double(expected) : nil }

    static func += (total: inout AttributeTally, part: AttributeTally) {
        total.stated += part.stated
        total.correct += part.correct
        total.expected += part.expected
    }
}

/// One caption, judged against its image's ground truth.
public struct CaptionContent: Sendable, Equatable {
    /// What the caption claims, or nil when it could not be parsed (see `parseError`).
    public var claims: CaptionClaims?
    public var parseError: CaptionParseError?
    /// Claimed object index → ground-truth object index.
    public var pairs: [(claim: Int, truth: Int)] = []
    public var shape = AttributeTally()
    public var color = AttributeTally()
    public var size = AttributeTally()
    public var position = AttributeTally()
    /// Relations stated (`stated`) and true of the paired objects (`correct`); `expected` unused.
    public var relations = AttributeTally()
    public var countRight = false
    public var exact = false

    public init() {}

    /// The attributes with a wrong or missing value, in a fixed order (for per-image reports):
    /// "unparseable", "count", "shape", "color", "size", "position", "relation".
    public var mistakes: [String] {
        if parseError != nil { return ["unparseable"] }
        var names: [String] = []
        if !countRight { names.append("count") }
        for (name, tally) in [("shape", shape), ("color", color)] where tally.correct < max(tally.stated, tally.expected) {
            names.append(name)
        }
        for (name, tally) in [("size", size), ("position", position), ("relation", relations)] where tally.correct < tally.stated {
            names.append(name)
        }
        return names
    }

    public static func == (left: CaptionContent, right: CaptionContent) -> Bool {
        left.claims == right.claims && left.parseError == right.parseError
            && left.pairs.map(\.claim) == right.pairs.map(\.claim) && left.pairs.map(\.truth) == right.pairs.map(\.truth)
            && left.shape == right.shape && left.color == right.color && left.size == right.size
            && left.position == right.position && left.relations == right.relations
            && left.countRight == right.countRight && left.exact == right.exact
    }
}

/// The content scores of a set of captions (see `ContentEvaluator`).
public struct ContentScores: Sendable, Equatable {
    /// Captions scored (those whose image has ground truth), parsed or not.
    public var captions = 0
    public var unparsed = 0
    public var countRight = 0
    public var exact = 0
    public var shape = AttributeTally()
    public var color = AttributeTally()
    public var size = AttributeTally()
    public var position = AttributeTally()
    public var relations = AttributeTally()
    /// Image id → its caption judged.
    public var perImage: [String: CaptionContent] = [:]

    public init() {}

    mutating func add(_ judged: CaptionContent) {
        captions += 1
        if judged.parseError != nil { unparsed += 1 }
        if judged.countRight { countRight += 1 }
        if judged.exact { exact += 1 }
        shape += judged.shape
        color += judged.color
        size += judged.size
        position += judged.position
        relations += judged.relations
    }

    /// Share of captions with every object exactly right, in [0, 1] (0 with no captions).
    public var exactMatch: Double { captions > 0 ? Double(exact) / Double(captions) : 0 }
    /// Share of captions naming as many objects as the picture holds.
    public var objectCount: Double { captions > 0 ? Double(countRight) / Double(captions) : 0 }

    /// The figures as reported in JSON (`glimpse evaluate`, `log.jsonl`).
    public var summary: ContentSummary {
        ContentSummary(captions: captions, unparsed: unparsed, exactMatch: exactMatch, objectCount: objectCount,
                       shapePrecision: shape.precision, shapeRecall: shape.recall,
                       colorPrecision: color.precision, colorRecall: color.recall,
                       sizePrecision: size.precision, sizeRecall: size.recall,
                       positionPrecision: position.precision, positionRecall: position.recall,
                       relationPrecision: relations.precision)
    }
}

/// The content scores under their JSON names; a precision or recall with nothing to
/// count (no size ever stated, say) is absent.
public struct ContentSummary: Codable, Sendable, Equatable {
    public var captions: Int
    public var unparsed: Int
    public var exactMatch: Double
    public var objectCount: Double
    public var shapePrecision: Double?
    public var shapeRecall: Double?
    public var colorPrecision: Double?
    public var colorRecall: Double?
    public var sizePrecision: Double?
    public var sizeRecall: Double?
    public var positionPrecision: Double?
    public var positionRecall: Double?
    public var relationPrecision: Double?

    enum CodingKeys: String, CodingKey {
        case captions, unparsed, exactMatch = "exact_match", objectCount = "object_count",
             shapePrecision = "shape_precision", shapeRecall = "shape_recall",
             colorPrecision = "color_precision", colorRecall = "color_recall",
             sizePrecision = "size_precision", sizeRecall = "size_recall",
             positionPrecision = "position_precision", positionRecall = "position_recall",
             relationPrecision = "relation_precision"
    }

    /// One line for people: "every object right 41.2% of 500 captions, object count 93.0%, shape P/R 0.83/0.80, ...".
    public var text: String {
        func pair(_ precision: Double?, _ recall: Double?) -> String {
            func figure(_ value: Double?) -> String { value.map { String(format: "%.3f", $0) } ?? "-" }
            return "\(figure(precision))/\(figure(recall))"
        }
        var line = String(format: "every object right in %.1f%% of %d captions, object count right %.1f%%",
                          100 * exactMatch, captions, 100 * objectCount)
        line += "; precision/recall: shape \(pair(shapePrecision, shapeRecall)), colour \(pair(colorPrecision, colorRecall))"
        line += ", size \(pair(sizePrecision, sizeRecall)), position \(pair(positionPrecision, positionRecall))"
        if let relationPrecision { line += String(format: "; relations right %.3f", relationPrecision) }
        if unparsed > 0 { line += "; \(unparsed) unparseable" }
        return line
    }
}
