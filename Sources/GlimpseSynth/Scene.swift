/// Synthetic captioned scenes: simple shapes on varied backgrounds, with captions
/// that say exactly what is in the picture. They let Glimpse ship a default model
/// trained end to end inside the project, and let tests train for real in seconds.

/// The kinds of shape a scene holds.
public enum ShapeKind: String, CaseIterable, Sendable, Equatable {
    case circle, square, triangle, diamond, star
}

/// A named, saturated colour: every object colour stands out from every background.
public struct ShapeColor: Sendable, Equatable {
    public let name: String
    public let red: UInt8, green: UInt8, blue: UInt8

    public static let all: [ShapeColor] = [
        ShapeColor(name: "red", red: 215, green: 35, blue: 35),
        ShapeColor(name: "green", red: 35, green: 165, blue: 55),
        ShapeColor(name: "blue", red: 35, green: 75, blue: 215),
        ShapeColor(name: "yellow", red: 240, green: 215, blue: 35),
        ShapeColor(name: "purple", red: 135, green: 50, blue: 185),
        ShapeColor(name: "orange", red: 245, green: 135, blue: 25),
        ShapeColor(name: "white", red: 250, green: 250, blue: 250),
        ShapeColor(name: "black", red: 15, green: 15, blue: 15),
    ]
}

public enum ShapeSize: String, CaseIterable, Sendable, Equatable {
    case small, large

    /// The two ways captions say it.
    var words: (plain: String, casual: String) {
        switch self {
        case .small: return ("small", "little")
        case .large: return ("large", "big")
        }
    }
}

/// Where a lone object sits.
public enum Placement: String, CaseIterable, Sendable, Equatable {
    case left, right, top, bottom, center

    var phrase: String {
        switch self {
        case .left: return "on the left"
        case .right: return "on the right"
        case .top: return "at the top"
        case .bottom: return "at the bottom"
        case .center: return "in the middle"
        }
    }
}

/// How the first of two objects stands to the second.
public enum Relation: String, CaseIterable, Sendable, Equatable {
    case leftOf, rightOf, above, below

    var phrase: String {
        switch self {
        case .leftOf: return "to the left of"
        case .rightOf: return "to the right of"
        case .above: return "above"
        case .below: return "below"
        }
    }

    var inverse: Relation {
        switch self {
        case .leftOf: return .rightOf
        case .rightOf: return .leftOf
        case .above: return .below
        case .below: return .above
        }
    }
}

public struct SceneObject: Sendable, Equatable {
    public var kind: ShapeKind
    public var color: ShapeColor
    public var size: ShapeSize
    /// Centre in pixels.
    public var centerX: Double
    public var centerY: Double
    /// Circumradius in pixels.
    public var radius: Double
    /// Rotation in radians (small: a square stays recognisably a square).
    public var rotation: Double
    /// Per-channel offset added to the named colour, so no two reds are identical.
    public var tint: (Int, Int, Int)

    public static func == (left: SceneObject, right: SceneObject) -> Bool {
        left.kind == right.kind && left.color == right.color && left.size == right.size
            && left.centerX == right.centerX && left.centerY == right.centerY && left.radius == right.radius
            && left.rotation == right.rotation && left.tint == right.tint
    }
}

/// Backgrounds: muted mid-tones, so that white, black and every saturated colour
/// stands out, with textures that the model must learn to ignore.
public enum Background: Sendable, Equatable {
    case solid(RGB)
    case gradient(RGB, RGB, vertical: Bool)
    case stripes(RGB, RGB, period: Int, diagonal: Bool)
    case checker(RGB, RGB, cell: Int)
    case noise(RGB, amplitude: Int, seed: UInt64)
}

public struct RGB: Sendable, Equatable {
    public var red: Int, green: Int, blue: Int
}

/// What the picture shows.
public enum Layout: Sendable, Equatable {
    case single(Placement)
    case pair(Relation)
    /// Three objects, listed left to right.
    case row
}

public struct Scene: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var background: Background
    public var layout: Layout
    /// In caption order: for a pair, the first is the subject of the relation; for a
    /// row, left to right.
    public var objects: [SceneObject]
}
