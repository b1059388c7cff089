import Foundation

/// Draws random scenes and writes five differently phrased captions for each.
///
/// Randomness comes only from the generator passed in, through `next()`, with the
/// arithmetic spelled out here (no `Int.random(in:)`, whose algorithm is the
/// standard library's to change), so a seed gives the same dataset on every toolchain.
public struct SceneGenerator: Sendable {
    /// Image sides in pixels, inclusive ranges.
    public var widthRange: ClosedRange<Int> = 192...400
    public var heightRange: ClosedRange<Int> = 160...320

    public init() {}

    public func scene<Generator: RandomNumberGenerator>(using generator: inout Generator) -> Scene {
        var random = Draw(generator: generator)
        defer { generator = random.generator }
        let width = random.int(in: widthRange), height = random.int(in: heightRange)
        let background = makeBackground(&random)
        let frame = SceneFrame(width: Double(width), height: Double(height))
        let layoutDraw = random.int(in: 0...9)
        let (layout, placed) = layoutDraw < 3 ? frame.single(using: &random)
            : layoutDraw < 7 ? frame.pair(using: &random) : frame.row(using: &random)
        var objects = placed
        // Keep every object inside the frame.
        let w = frame.width, h = frame.height
        for index in objects.indices {
            let r = objects[index].radius
            objects[index].centerX = min(max(objects[index].centerX, r + 2), w - r - 2)
            objects[index].centerY = min(max(objects[index].centerY, r + 2), h - r - 2)
        }
        return Scene(width: width, height: height, background: background, layout: layout, objects: objects)
    }

    private func makeBackground<Generator: RandomNumberGenerator>(_ random: inout Draw<Generator>) -> Background {
        func muted() -> RGB {
            let base = random.int(in: 85...165)
            return RGB(red: base + random.int(in: -22...22), green: base + random.int(in: -22...22),
                       blue: base + random.int(in: -22...22))
        }
        func near(_ color: RGB) -> RGB {
            let shift = random.int(in: 14...30) * (random.bool() ? 1 : -1)
            return RGB(red: color.red + shift, green: color.green + shift, blue: color.blue + shift)
        }
        let first = muted()
        switch random.int(in: 0...4) {
        case 0: return .solid(first)
        case 1: return .gradient(first, muted(), vertical: random.bool())
        case 2: return .stripes(first, near(first), period: random.int(in: 8...24), diagonal: random.bool())
        case 3: return .checker(first, near(first), cell: random.int(in: 8...28))
        default: return .noise(first, amplitude: random.int(in: 8...20), seed: random.generator.next())
        }
    }

    // MARK: - Captions

    /// Five captions, each phrased differently, all true of the scene.
    public func captions(for scene: Scene) -> [String] {
        let objects = scene.objects
        func phrase(_ object: SceneObject, size: Bool = true, casual: Bool = false) -> String {
            let words = (size ? [casual ? object.size.words.casual : object.size.words.plain] : [])
                + [object.color.name, object.kind.rawValue]
            return article(words[0]) + " " + words.joined(separator: " ")
        }
        switch scene.layout {
        case .single(let placement):
            let thing = objects[0]
            return [
                "\(phrase(thing)) \(placement.phrase)",
                "there is \(phrase(thing, size: false)) \(placement.phrase)",
                "\(phrase(thing, casual: true)) \(placement.phrase) of the picture",
                "a picture of \(phrase(thing))",
                "a single \(thing.color.name) \(thing.kind.rawValue) \(placement.phrase)",
            ]
        case .pair(let relation):
            let (first, second) = (objects[0], objects[1])
            let link = relation == .leftOf || relation == .rightOf ? "next to" : "and"
            return [
                "\(phrase(first)) \(relation.phrase) \(phrase(second))",
                "\(phrase(second)) \(relation.inverse.phrase) \(phrase(first))",
                "there is \(phrase(first, size: false)) \(relation.phrase) \(phrase(second, size: false))",
                "\(phrase(first, casual: true)) \(link) \(phrase(second, casual: true))",
                "two shapes : \(phrase(first, size: false)) and \(phrase(second, size: false))",
            ]
        case .row:
            let (a, b, c) = (objects[0], objects[1], objects[2])
            let list = "\(phrase(a, size: false)) , \(phrase(b, size: false)) and \(phrase(c, size: false))"
            return [
                list,
                "three shapes : \(list)",
                "\(phrase(a, size: false)) on the left , \(phrase(b, size: false)) in the middle and \(phrase(c, size: false)) on the right",
                "\(phrase(a, size: false)) to the left of \(phrase(b, size: false)) and \(phrase(c, size: false))",
                "a row of three shapes : \(list)",
            ]
        }
    }

    func article(_ word: String) -> String {
        guard let first = word.first else { return "a" }
        return "aeiou".contains(first) ? "an" : "a"
    }
}

/// Uniform draws from a generator's raw 64-bit output.
struct Draw<Generator: RandomNumberGenerator> {
    var generator: Generator

    mutating func int(in range: ClosedRange<Int>) -> Int {
        let span = UInt64(range.upperBound - range.lowerBound + 1)
        return range.lowerBound + Int(generator.next() % span)  // bias below 2^-50: irrelevant here
    }

    mutating func double(in range: ClosedRange<Double>) -> Double {
        let unit = Double(generator.next() >> 11) * 0x1p-53
        return range.lowerBound + unit * (range.upperBound - range.lowerBound)
    }

    mutating func bool() -> Bool { generator.next() >> 63 == 1 }

    mutating func pick<Element>(_ options: [Element]) -> Element {
        options[int(in: 0...(options.count - 1))]
    }
}

/// The objects of each layout, drawn in a scene of `width` × `height` pixels. Each function
/// draws in the order its lines run (size, then position, then look), which is part of what
/// a seed gives.
private struct SceneFrame {
    let width: Double, height: Double

    /// One object at a placement, moved by up to 4% of the sides.
    func single<Generator>(using random: inout Draw<Generator>) -> (Layout, [SceneObject]) {
        let (w, h) = (width, height)
        let placement = random.pick(Placement.allCases)
        let (x, y): (Double, Double)
        switch placement {
        case .left: (x, y) = (w * 0.25, h * 0.5)
        case .right: (x, y) = (w * 0.75, h * 0.5)
        case .top: (x, y) = (w * 0.5, h * 0.27)
        case .bottom: (x, y) = (w * 0.5, h * 0.73)
        case .center: (x, y) = (w * 0.5, h * 0.5)
        }
        let size = random.size()
        let centerX = x + random.jitter(w * 0.04), centerY = y + random.jitter(h * 0.04)
        return (.single(placement), [object(size, centerX: centerX, centerY: centerY, using: &random)])
    }

    /// Two objects of different colours in a relation, the subject first, each moved along
    /// the line between them by up to 15% of the other side.
    func pair<Generator>(using random: inout Draw<Generator>) -> (Layout, [SceneObject]) {
        let (w, h) = (width, height)
        let relation = random.pick(Relation.allCases)
        // Positions of the subject (first) and the other object.
        let horizontal = relation == .leftOf || relation == .rightOf
        let near = horizontal ? (w * 0.27, h * 0.5) : (w * 0.5, h * 0.27)
        let far = horizontal ? (w * 0.73, h * 0.5) : (w * 0.5, h * 0.73)
        let subjectFirst = relation == .leftOf || relation == .above
        let subjectAt = subjectFirst ? near : far, otherAt = subjectFirst ? far : near
        let along = horizontal ? h * 0.15 : w * 0.15
        let subjectSize = random.size()
        let subjectX = subjectAt.0 + (horizontal ? 0 : random.jitter(along))
        let subjectY = subjectAt.1 + (horizontal ? random.jitter(along) : 0)
        let subject = object(subjectSize, centerX: subjectX, centerY: subjectY, using: &random)
        let otherSize = random.size()
        let otherX = otherAt.0 + (horizontal ? 0 : random.jitter(along))
        let otherY = otherAt.1 + (horizontal ? random.jitter(along) : 0)
        let other = object(otherSize, centerX: otherX, centerY: otherY, excluding: [subject.color.name], using: &random)
        return (.pair(relation), [subject, other])
    }

    /// Three small objects of different colours, left to right, each moved up or down by up
    /// to 15% of the height.
    func row<Generator>(using random: inout Draw<Generator>) -> (Layout, [SceneObject]) {
        let (w, h) = (width, height)
        var used: [String] = []
        var objects: [SceneObject] = []
        for fraction in [0.19, 0.5, 0.81] {
            let centerY = h * 0.5 + random.jitter(h * 0.15)
            let item = object(.small, centerX: w * fraction, centerY: centerY, excluding: used, using: &random)
            used.append(item.color.name)
            objects.append(item)
        }
        return (.row, objects)
    }

    /// An object of `size` at (centerX, centerY), its kind, colour (none of `colors`),
    /// radius, rotation and tint drawn.
    func object<Generator>(_ size: ShapeSize, centerX: Double, centerY: Double, excluding colors: [String] = [],
                           using random: inout Draw<Generator>) -> SceneObject {
        let side = min(width, height)
        let kind = random.pick(ShapeKind.allCases)
        let palette = ShapeColor.all.filter { !colors.contains($0.name) }
        let color = random.pick(palette)
        let radius = side * (size == .small ? random.double(in: 0.12...0.15) : random.double(in: 0.20...0.24))
        let rotation = random.double(in: -0.2...0.2)
        let tint = (random.int(in: -12...12), random.int(in: -12...12), random.int(in: -12...12))
        return SceneObject(kind: kind, color: color, size: size, centerX: centerX, centerY: centerY,
                           radius: radius, rotation: rotation, tint: tint)
    }
}

private extension Draw {
    mutating func size() -> ShapeSize { bool() ? .small : .large }
    /// Uniform in ±amount.
    mutating func jitter(_ amount: Double) -> Double { double(in: -amount...amount) }
}
