import GlimpseSynth
import Testing

@Suite("Content scores")
struct ContentScoresTests {
    @Test("calibration: every reference caption synth writes scores 100% on what it mentions")
    func referencesScorePerfectly() throws {
        let items = calibrationItems()
        var placements = Set<String>(), relations = Set<String>(), layouts = Set<String>()
        var captions: [String: String] = [:], truths: [String: GroundTruth] = [:]
        for (number, item) in items.enumerated() {
            let truth = item.groundTruth
            switch item.scene.layout {
            case .single(let placement): placements.insert(placement.rawValue); layouts.insert("single")
            case .pair(let relation): relations.insert(relation.rawValue); layouts.insert("pair")
            case .row: layouts.insert("row")
            }
            for (template, caption) in item.captions.enumerated() {
                let judged = ContentEvaluator.judge(caption, against: truth)
                #expect(judged.parseError == nil, "template \(template): \(caption): \(judged.parseError.map(\.reason) ?? "")")
                #expect(judged.exact && judged.countRight && judged.mistakes.isEmpty,
                        "template \(template): \"\(caption)\": \(judged.mistakes)")
                for (name, tally) in [("shape", judged.shape), ("colour", judged.color), ("size", judged.size),
                                      ("position", judged.position), ("relation", judged.relations)] {
                    #expect(tally.correct == tally.stated, "\(name) of \"\(caption)\": \(tally)")
                    if tally.expected > 0 { #expect(tally.correct == tally.expected, "\(name) of \"\(caption)\": \(tally)") }
                }
                // Every template names every object's shape and colour.
                #expect(judged.shape.stated == truth.objects.count && judged.color.stated == truth.objects.count, "\(caption)")
                // The same caption in capitals with a full stop is the same claim.
                #expect(ContentEvaluator.judge(caption.uppercased() + ".", against: truth) == judged)
                // Keyed by scene and template: file names repeat across seeds.
                captions["\(number)#\(template)"] = caption
                truths["\(number)#\(template)"] = truth
            }
        }
        #expect(layouts == ["single", "pair", "row"])
        #expect(placements == Set(Placement.allCases.map(\.rawValue)))
        #expect(relations == Set(Relation.allCases.map(\.rawValue)))

        let scores = ContentEvaluator.evaluate(captions: captions, groundTruth: truths)
        #expect(scores.captions == items.count * 5 && scores.unparsed == 0)
        #expect(scores.exactMatch == 1 && scores.objectCount == 1)
        for tally in [scores.shape, scores.color, scores.size, scores.position] {
            #expect(tally.precision == 1 && tally.recall == 1, "\(tally)")
        }
        #expect(scores.relations.precision == 1)
        // Sizes, positions and relations are stated by some templates, so they were checked.
        #expect(scores.size.stated > 1000 && scores.position.stated > 1000 && scores.relations.stated > 1000)
    }

    @Test("a wrong shape costs shape precision and recall, one object's worth, and nothing else")
    func wrongShape() {
        checkEdits(attribute: "shape") { caption, truth in
            let object = truth.objects.last!
            let other = ShapeKind.allCases.first { $0 != object.shape }!
            return replacingFirst("\(object.color.name) \(object.shape.rawValue)", with: "\(object.color.name) \(other.rawValue)", in: caption)
        }
    }

    @Test("a wrong colour costs colour precision and recall only")
    func wrongColor() {
        checkEdits(attribute: "color") { caption, truth in
            let object = truth.objects.last!
            let used = Set(truth.objects.map(\.color.name))
            let other = ShapeColor.all.first { !used.contains($0.name) }!
            return replacingFirst("\(object.color.name) \(object.shape.rawValue)", with: "\(other.name) \(object.shape.rawValue)", in: caption)
        }
    }

    @Test("a wrong size costs size precision and recall only")
    func wrongSize() {
        checkEdits(attribute: "size") { caption, truth in
            let object = truth.objects.last!
            for word in ["small", "little", "large", "big"] {
                let wrong = ["small", "little"].contains(word) ? "large" : "small"
                if let edited = replacingFirst("\(word) \(object.color.name) \(object.shape.rawValue)",
                                               with: "\(wrong) \(object.color.name) \(object.shape.rawValue)", in: caption) {
                    return edited
                }
            }
            return nil
        }
    }

    @Test("a wrong position costs position precision and recall only")
    func wrongPosition() {
        checkEdits(attribute: "position") { caption, truth in
            let object = truth.objects.last!
            let phrases = ["on the left": Placement.left, "on the right": .right, "at the top": .top, "at the bottom": .bottom,
                           "in the middle": .center]
            let truePhrase = phrases.first { $0.value == object.position }!.key
            let wrong = phrases.keys.sorted().first { $0 != truePhrase }!
            // The last object's place is the caption's last.
            guard let range = caption.range(of: truePhrase, options: .backwards) else { return nil }
            return caption.replacingCharacters(in: range, with: wrong)
        }
    }

    @Test("a reversed relation costs relation precision only, and the exact match")
    func wrongRelation() {
        // Pairs: a row's "A to the left of B and C" states two relations, which one edit reverses together.
        checkEdits(attribute: "relation") { caption, truth in
            guard truth.objects.count == 2 else { return nil }
            for (phrase, inverse) in [("to the left of", "to the right of"), ("to the right of", "to the left of"),
                                      (" above ", " below "), (" below ", " above ")] {
                if let edited = replacingFirst(phrase, with: inverse, in: caption) { return edited }
            }
            return nil
        }
    }

    /// Applies `edit` to every reference caption it can change and checks that the judged
    /// caption differs from the reference's judgement in `attribute` alone, by exactly one.
    func checkEdits(attribute: String, edit: (String, GroundTruth) -> String?) {
        var edited = 0
        for item in calibrationItems().prefix(300) {
            let truth = item.groundTruth
            for caption in item.captions {
                guard let wrong = edit(caption, truth), wrong != caption else { continue }
                edited += 1
                let right = ContentEvaluator.judge(caption, against: truth)
                let judged = ContentEvaluator.judge(wrong, against: truth)
                #expect(judged.parseError == nil && judged.countRight, "\(wrong)")
                #expect(!judged.exact, "\"\(wrong)\" judged exact against \(truth)")
                #expect(judged.mistakes == [attribute], "\"\(wrong)\": \(judged.mistakes)")
                let tallies = [("shape", \CaptionContent.shape), ("color", \.color), ("size", \.size), ("position", \.position),
                               ("relation", \.relations)]
                for (name, path) in tallies {
                    var expected = right[keyPath: path]
                    if name == attribute { expected.correct -= 1 }
                    #expect(judged[keyPath: path] == expected, "\(name) of \"\(wrong)\": \(judged[keyPath: path]), expected \(expected)")
                }
            }
        }
        #expect(edited > 50, "only \(edited) captions could be edited")
    }

    func replacingFirst(_ target: String, with replacement: String, in text: String) -> String? {
        guard let range = text.range(of: target) else { return nil }
        return text.replacingCharacters(in: range, with: replacement)
    }

    @Test("a missing object costs recall and the count, not precision; an extra one costs precision and the count")
    func missingAndExtraObjects() throws {
        let pair = try #require(calibrationItems().first { $0.scene.objects.count == 2 }).groundTruth
        let (first, second) = (pair.objects[0], pair.objects[1])
        let missing = ContentEvaluator.judge("a \(first.color.name) \(first.shape.rawValue)", against: pair)
        #expect(!missing.countRight && !missing.exact)
        #expect(missing.shape == AttributeTally(stated: 1, correct: 1, expected: 2))
        #expect(missing.color == AttributeTally(stated: 1, correct: 1, expected: 2))
        #expect(missing.shape.precision == 1 && missing.shape.recall == 0.5)

        let unused = try #require(ShapeColor.all.first { $0 != first.color && $0 != second.color })
        let extra = ContentEvaluator.judge("a \(first.color.name) \(first.shape.rawValue) and a \(second.color.name) "
                                           + "\(second.shape.rawValue) and a \(unused.name) star", against: pair)
        #expect(!extra.countRight && !extra.exact)
        #expect(extra.shape == AttributeTally(stated: 3, correct: 2, expected: 2))
        #expect(extra.color == AttributeTally(stated: 3, correct: 2, expected: 2))
        #expect(extra.mistakes == ["count", "shape", "color"])
    }

    @Test("size and position recall expect every object once a caption states any")
    func optionalAttributes() throws {
        let truth = GroundTruth(image: "x", layout: .pair, relation: .leftOf, objects: [
            .init(shape: .circle, color: .named("red")!, size: .large, position: .left),
            .init(shape: .square, color: .named("blue")!, size: .small, position: .right),
        ])
        let oneSize = ContentEvaluator.judge("a large red circle to the left of a blue square", against: truth)
        #expect(oneSize.size == AttributeTally(stated: 1, correct: 1, expected: 2))
        #expect(oneSize.exact, "nothing stated is wrong and every object is named")
        let noSize = ContentEvaluator.judge("a red circle to the left of a blue square", against: truth)
        #expect(noSize.size == AttributeTally() && noSize.size.precision == nil && noSize.size.recall == nil)
        let placed = ContentEvaluator.judge("a red circle on the left and a blue square on the right", against: truth)
        #expect(placed.position == AttributeTally(stated: 2, correct: 2, expected: 2) && placed.exact)
        let swapped = ContentEvaluator.judge("a blue square to the left of a red circle", against: truth)
        #expect(swapped.relations == AttributeTally(stated: 1, correct: 0) && !swapped.exact)
        #expect(!ContentEvaluator.judge("a red circle above a blue square", against: truth).exact)
        #expect(ContentEvaluator.judge("a blue square next to a red circle", against: truth).exact)
    }

    @Test("unparseable captions are counted: they lose recall, count and exact match, and are never skipped")
    func unparseableCaptionsCount() throws {
        let items = Array(calibrationItems().prefix(40))
        var captions: [String: String] = [:], truths: [String: GroundTruth] = [:]
        for (index, item) in items.enumerated() {
            captions[item.fileName] = index % 4 == 0 ? "the cat sat on the mat" : item.captions[0]
            truths[item.fileName] = item.groundTruth
        }
        let scores = ContentEvaluator.evaluate(captions: captions, groundTruth: truths)
        let bad = items.enumerated().filter { $0.offset % 4 == 0 }.map(\.element)
        let objects = items.reduce(0) { $0 + $1.scene.objects.count }
        let badObjects = bad.reduce(0) { $0 + $1.scene.objects.count }
        #expect(scores.captions == 40 && scores.unparsed == bad.count)
        #expect(scores.exact == 40 - bad.count && scores.countRight == 40 - bad.count)
        #expect(scores.exactMatch == Double(40 - bad.count) / 40)
        #expect(scores.shape == AttributeTally(stated: objects - badObjects, correct: objects - badObjects, expected: objects))
        #expect(scores.color.recall == Double(objects - badObjects) / Double(objects) && scores.color.precision == 1)
        let judged = try #require(scores.perImage[bad[0].fileName])
        #expect(judged.parseError?.reason == "unexpected word \"the\" (word 1)" && judged.mistakes == ["unparseable"])
        #expect(scores.summary.unparsed == bad.count)
    }

    @Test("images without ground truth are left out of the content scores")
    func coverage() {
        let item = SyntheticDataset(count: 1, seed: 3).item(0)
        let scores = ContentEvaluator.evaluate(captions: [item.fileName: item.captions[0], "other.jpg": "a red circle"],
                                               groundTruth: [item.fileName: item.groundTruth])
        #expect(scores.captions == 1 && scores.perImage.keys.sorted() == [item.fileName])
    }

    @Test("objects are paired by what agrees, whatever the order the caption names them in")
    func pairing() throws {
        let truth = GroundTruth(image: "x", layout: .row, objects: [
            .init(shape: .circle, color: .named("red")!, size: .small, position: .left),
            .init(shape: .square, color: .named("blue")!, size: .small, position: .center),
            .init(shape: .star, color: .named("green")!, size: .small, position: .right),
        ])
        let judged = ContentEvaluator.judge("a green star , a red circle and a blue square", against: truth)
        #expect(judged.pairs.map(\.claim) == [0, 1, 2] && judged.pairs.map(\.truth) == [2, 0, 1])
        #expect(judged.exact)
        // The green star called a circle: paired with the star by colour, so the shape is what is wrong.
        let wrong = ContentEvaluator.judge("a green circle , a red circle and a blue square", against: truth)
        #expect(wrong.pairs.map(\.truth) == [2, 0, 1] && wrong.mistakes == ["shape"])
        #expect(wrong.shape == AttributeTally(stated: 3, correct: 2, expected: 3))
    }
}
