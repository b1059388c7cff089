import GlimpseSynth
import Testing

@Suite("Caption parser: the grammar glimpse synth writes")
struct CaptionParserTests {
    typealias Object = CaptionClaims.Object
    static let red = ShapeColor.named("red")!, blue = ShapeColor.named("blue")!, green = ShapeColor.named("green")!
    static let orange = ShapeColor.named("orange")!

    @Test("every template's shape of sentence, in any case and with any punctuation", arguments: [
        ("a large red circle on the left", CaptionClaims(objects: [Object(shape: .circle, color: red, size: .large, position: .left)])),
        ("There is a Red Circle at the TOP.", CaptionClaims(objects: [Object(shape: .circle, color: red, position: .top)])),
        ("a little red star in the middle of the picture",
         CaptionClaims(objects: [Object(shape: .star, color: red, size: .small, position: .center)])),
        ("a picture of a big blue diamond", CaptionClaims(objects: [Object(shape: .diamond, color: blue, size: .large)])),
        ("a single red triangle at the bottom", CaptionClaims(objects: [Object(shape: .triangle, color: red, position: .bottom)])),
        ("a small red square to the right of a large blue circle",
         CaptionClaims(objects: [Object(shape: .square, color: red, size: .small), Object(shape: .circle, color: blue, size: .large)],
                       relations: [.init(subject: 0, kind: .rightOf, object: 1)])),
        ("a red square above a blue circle",
         CaptionClaims(objects: [Object(shape: .square, color: red), Object(shape: .circle, color: blue)],
                       relations: [.init(subject: 0, kind: .above, object: 1)])),
        ("a big red square next to a little blue circle",
         CaptionClaims(objects: [Object(shape: .square, color: red, size: .large), Object(shape: .circle, color: blue, size: .small)],
                       relations: [.init(subject: 0, kind: .nextTo, object: 1)])),
        ("a big red square and a little blue circle",
         CaptionClaims(objects: [Object(shape: .square, color: red, size: .large), Object(shape: .circle, color: blue, size: .small)])),
        ("two shapes : a red square and a blue circle",
         CaptionClaims(objects: [Object(shape: .square, color: red), Object(shape: .circle, color: blue)])),
        ("a row of three shapes: a red square, a blue circle and an orange star",
         CaptionClaims(objects: [Object(shape: .square, color: red), Object(shape: .circle, color: blue),
                                 Object(shape: .star, color: orange)])),
        // Glimpse's tokenizer drops the commas: the model writes the list without them.
        ("three shapes a red square a blue circle and an orange star",
         CaptionClaims(objects: [Object(shape: .square, color: red), Object(shape: .circle, color: blue),
                                 Object(shape: .star, color: orange)])),
        ("a red square on the left , a blue circle in the middle and an orange star on the right",
         CaptionClaims(objects: [Object(shape: .square, color: red, position: .left), Object(shape: .circle, color: blue, position: .center),
                                 Object(shape: .star, color: orange, position: .right)])),
        ("a red square to the left of a blue circle and an orange star",
         CaptionClaims(objects: [Object(shape: .square, color: red), Object(shape: .circle, color: blue), Object(shape: .star, color: orange)],
                       relations: [.init(subject: 0, kind: .leftOf, object: 1), .init(subject: 0, kind: .leftOf, object: 2)])),
        // Article agreement and the order of size and colour are grammar, not content.
        ("a orange large star", CaptionClaims(objects: [Object(shape: .star, color: orange, size: .large)])),
        ("a square on the left", CaptionClaims(objects: [Object(shape: .square, position: .left)])),
    ])
    func parses(caption: String, expected: CaptionClaims) throws {
        #expect(try CaptionParser.parse(caption) == expected)
    }

    @Test("captions outside the grammar are refused with the reason", arguments: [
        ("", "no object named"),
        ("a red", "an article without a shape (the caption ends)"),
        ("a red dog", "an article without a shape (found \"dog\")"),
        ("the cat sat on the mat", "unexpected word \"the\" (word 1)"),
        ("a red circle and", "the caption ends after \"and\" or a relation"),
        ("a red circle to the left of", "the caption ends after \"and\" or a relation"),
        ("a red circle and and a blue square", "\"and\" where an object should be"),
        ("on the left a red circle", "a place with no object before it"),
        ("a red circle on the left on the right", "two places for one object"),
        ("two shapes : a red circle", "says 2 shape(s) but names 1"),
        ("a row of three shapes : a red circle and a blue square", "says 3 shape(s) but names 2"),
        ("a single red circle and a blue square", "says 1 shape(s) but names 2"),
        ("a red circle <unk>", "unexpected word \"unk\" (word 4)"),
    ])
    func refuses(caption: String, reason: String) {
        #expect(throws: CaptionParseError(caption: caption, reason: reason)) { try CaptionParser.parse(caption) }
    }

    @Test("every word the caption writer uses is in the parser's vocabulary")
    func vocabulary() throws {
        for shape in ShapeKind.allCases {
            for color in ShapeColor.all {
                for size in ["small", "little", "large", "big"] {
                    let claims = try CaptionParser.parse("a \(size) \(color.name) \(shape.rawValue)")
                    #expect(claims.objects == [Object(shape: shape, color: color,
                                                      size: ["small", "little"].contains(size) ? .small : .large)])
                }
            }
        }
    }
}
